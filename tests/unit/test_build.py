"""`make build`: what `sam deploy` ships, built without Docker (design.md D3).

`make build` is run once per session into temporary directories (about 10 s each): for arm64, as
`make deploy` ships it, and for this machine's architecture, because the layer's native code (pydantic-core)
built for arm64 cannot load on an x86_64 machine. That second layer is the one imported under Python 3.13.

Python 3.13 (the runtime's version) is required, not optional: without it the layer ships without bytecode
and nothing here can prove it imports under the runtime, so the tests that need it fail rather than skip.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from benchmarks.artifacts import find_python313
from local.template import ROOT

pytestmark = pytest.mark.xdist_group("build")

SHIPPED_ARCH = "arm64"  # the template's default Architecture
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine().lower()
]
WHEEL_ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}
MAX_LAYER_BYTES = 30_000_000  # the target: at most 30 MB unzipped, bytecode included
# Bytecode flags (PEP 552): bit 0 hash-based, bit 1 check the source. Unchecked-hash is hash-based only.
UNCHECKED_HASH = 0b01


@dataclass(frozen=True)
class Build:
    directory: Path
    output: str

    @property
    def function(self) -> Path:
        return self.directory / "BillingFunction"

    @property
    def layer(self) -> Path:
        return self.directory / "DepsLayer" / "python"

    def template(self) -> dict[str, Any]:
        return dict(cfn_yaml.load(str(self.directory / "template.yaml")))


def make_build(directory: Path, arch: str) -> Build:
    # A make above us (make test) leaves its jobserver settings in the environment; this make is separate.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    result = subprocess.run(
        ["make", "--no-print-directory", "build", f"BUILD_DIR={directory}", f"ARCH={arch}"],  # noqa: S607
        cwd=ROOT,
        env={**env, "SAM_CLI_TELEMETRY": "0"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return Build(directory, output)


@pytest.fixture(scope="session")
def python313() -> str:
    found = find_python313()
    assert found, "no Python 3.13 on this machine: pyenv install 3.13, or set PYTHON313=/path/to/python3.13"
    return found


@pytest.fixture(scope="session")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return make_build(tmp_path_factory.mktemp("build") / SHIPPED_ARCH, SHIPPED_ARCH)


@pytest.fixture(scope="session")
def native(tmp_path_factory: pytest.TempPathFactory, shipped: Build) -> Build:
    """The same build for this machine's architecture, whose wheels load here."""
    if HOST_ARCH == SHIPPED_ARCH:
        return shipped
    return make_build(tmp_path_factory.mktemp("build") / HOST_ARCH, HOST_ARCH)


def _magic(python: str) -> bytes:
    result = subprocess.run(
        [python, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bytes.fromhex(result.stdout)


def _assert_unchecked_hash_bytecode_for(python313: str, directory: Path) -> int:
    """Every module has CPython 3.13 bytecode in unchecked-hash mode, and no other bytecode is there."""
    magic = _magic(python313)
    sources = [p for p in directory.rglob("*.py")]
    pycs = list(directory.rglob("*.pyc"))
    assert sources
    assert [p for p in pycs if not p.name.endswith(".cpython-313.pyc")] == []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.is_file(), f"no bytecode for {source.relative_to(directory)}"
        header = pyc.read_bytes()[:8]
        assert header[:4] == magic, pyc
        assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH, pyc
    return len(pycs)


# --- the built template -----------------------------------------------------------------------------------


def test_built_template_points_at_the_built_artifacts(shipped: Build) -> None:
    resources = shipped.template()["Resources"]
    function = resources["BillingFunction"]["Properties"]
    layer = resources["DepsLayer"]["Properties"]

    # Relative to the built template, so `sam deploy` uploads these directories and nothing else.
    assert function["CodeUri"] == "BillingFunction"
    assert layer["ContentUri"] == "DepsLayer"
    module, _ = function["Handler"].rsplit(".", 1)
    assert (shipped.directory / function["CodeUri"] / (module.replace(".", "/") + ".py")).is_file()
    assert (shipped.directory / layer["ContentUri"] / "python" / "aws_lambda_powertools").is_dir()
    for name, resource in resources.items():
        for key in ("CodeUri", "ContentUri"):
            uri = resource.get("Properties", {}).get(key)
            if uri is not None:
                assert isinstance(uri, str), name
                assert (shipped.directory / uri).is_dir(), f"{name}.{key} = {uri}"


def test_built_template_passes_sam_validate_lint(shipped: Build) -> None:
    sam = os.environ.get("SAM_CLI", str(ROOT / ".venv-sam" / "bin" / "sam"))
    result = subprocess.run(
        [
            sam,
            "validate",
            "--lint",
            "--template-file",
            str(shipped.directory / "template.yaml"),
            "--region",
            "ap-northeast-2",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_prints_each_artifacts_unzipped_and_zipped_size(shipped: Build) -> None:
    lines = shipped.output.splitlines()

    assert any("unzipped" in line and "zipped" in line.replace("unzipped", "") for line in lines)
    for artifact in ("BillingFunction", "DepsLayer"):
        [row] = [line.split() for line in lines if line.split()[:1] == [artifact]]
        # artifact, files, unzipped "N.N MB", zipped "N.N MB"
        assert row[3] == "MB", row
        assert row[5] == "MB", row
        assert float(row[2]) >= float(row[4]) > 0, row


# --- the function -----------------------------------------------------------------------------------------


def test_function_ships_python313_bytecode_and_none_of_this_machines(shipped: Build, python313: str) -> None:
    # SAM copies functions/ without __pycache__; `make build` then compiles it with 3.13 for /var/task.
    _assert_unchecked_hash_bytecode_for(python313, shipped.function)
    assert not list(shipped.function.rglob("*.cpython-311.pyc"))


# --- the layer --------------------------------------------------------------------------------------------


def test_layer_is_built_for_arm64_with_python313_bytecode(shipped: Build, python313: str) -> None:
    native_code = [p.name for p in shipped.layer.rglob("*.so")]

    assert native_code, "pydantic-core's extension is in the layer"
    assert all(WHEEL_ARCH[SHIPPED_ARCH] in name for name in native_code), native_code
    assert all("cpython-313" in name or "abi3" in name for name in native_code), native_code
    assert _assert_unchecked_hash_bytecode_for(python313, shipped.layer) > 100


def test_layer_leaves_boto3_to_the_runtime_and_stays_small(shipped: Build) -> None:
    assert not (shipped.layer / "boto3").exists()
    assert not (shipped.layer / "botocore").exists()
    size = sum(p.stat().st_size for p in shipped.layer.rglob("*") if p.is_file())
    assert size <= MAX_LAYER_BYTES, f"{size / 1e6:.1f} MB"


def test_layer_imports_under_python313(native: Build, python313: str) -> None:
    # This machine's architecture (x86_64 here: arm64 wheels cannot load on it). -S: only the layer's
    # packages are visible, as on Lambda, not whatever this interpreter's site-packages hold.
    code = (
        "import aws_lambda_powertools, pydantic, pydantic_core, requests, sys\n"
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
        "from pydantic_core import _pydantic_core\n"
        "for name in ('aws_lambda_powertools', 'pydantic', 'pydantic_core', 'requests'):\n"
        "    print(name, sys.modules[name].__file__, sys.modules[name].__spec__.cached)\n"
        "print('native', _pydantic_core.__file__)\n"
    )
    result = subprocess.run(
        [python313, "-S", "-c", code],
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(native.layer),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        _, *paths = line.split()
        for path in paths:
            # Loaded from the layer, with the layer's own bytecode next to it.
            assert Path(path).is_relative_to(native.layer), line
            assert Path(path).exists(), line
