"""The last step of `make build`: bytecode for the function's code, then the size of every artifact.

    python3 -m benchmarks.artifacts [BUILD_DIR]          # default .aws-sam/build

`sam build` copies functions/ into BUILD_DIR/BillingFunction without any __pycache__ (SAM's Python workflow
excludes *.pyc and __pycache__, so this machine's own bytecode never ships). /var/task is read-only on
Lambda, so without shipped bytecode every cold start compiles the function's modules again; this step
compiles them with a Python 3.13 interpreter in unchecked-hash mode, as layers/deps/Makefile does for the
layer (design.md D3). Without a Python 3.13 it says so and ships sources: bytecode of another version is
useless on the python3.13 runtime.

Then it prints, for each artifact directory, the number of files, the unzipped size and the size of the zip
`sam deploy` uploads. Standard library only: it runs under any python3.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

TARGET_PYTHON = (3, 13)
# Where Lambda mounts the function's code: recorded in the bytecode as the source path (for tracebacks).
TASK_ROOT = "/var/task"
# Lambda's own limit: the function and all its layers, unzipped.
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024


def find_python313() -> str | None:
    """The first working Python 3.13 interpreter (its real path), searched as layers/deps/Makefile does."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        os.environ.get("PYTHON313", ""),
        os.environ.get("PYTHON", ""),
        "python3.13",
        *sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.13*", "bin", "python3.13")), reverse=True),
        "/usr/local/bin/python3.13",
        "/usr/bin/python3.13",
        "/opt/homebrew/bin/python3.13",
    ]
    uv = shutil.which("uv")
    if uv:
        found = subprocess.run(  # noqa: S603 (fixed arguments)
            [uv, "python", "find", "3.13"], capture_output=True, text=True, check=False
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else "")
    for candidate in candidates:
        path = shutil.which(candidate) if candidate else None
        if not path:
            continue
        # A pyenv shim named python3.13 exists even when no 3.13 is selected, and fails when run.
        probe = subprocess.run(  # noqa: S603
            [path, "-c", "import sys; assert sys.version_info[:2] == (3, 13); print(sys.executable)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip():
            return probe.stdout.strip()
    return None


@dataclass(frozen=True)
class Size:
    name: str
    files: int
    unzipped: int
    zipped: int


def measure(directory: Path) -> Size:
    """Files, bytes on disk (file contents) and bytes of the deflated zip SAM would upload."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "artifact.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, path.relative_to(directory))
        zipped = archive.stat().st_size
    return Size(directory.name, len(files), unzipped, zipped)


def remove_foreign_bytecode(directory: Path) -> int:
    """Delete any bytecode that is not CPython 3.13's (SAM already excludes it; this is the backstop)."""
    removed = 0
    for pyc in list(directory.rglob("*.pyc")):
        if not pyc.name.endswith(".cpython-313.pyc"):
            pyc.unlink()
            removed += 1
    return removed


def compile_function(directory: Path, python313: str | None) -> str:
    """Compile the function's code with Python 3.13 in unchecked-hash mode; a one-line report."""
    removed = remove_foreign_bytecode(directory)
    note = f" (removed {removed} .pyc of another Python)" if removed else ""
    if python313 is None:
        warning = (
            f"{directory.name}: WARNING: NO BYTECODE "
            "(no Python 3.13 found; set PYTHON313=/path/to/python3.13)"
        )
        print(warning, file=sys.stderr)
        return warning + note
    subprocess.run(  # noqa: S603
        [
            python313,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(directory),
            "-p",
            TASK_ROOT,
            str(directory),
        ],
        check=True,
    )
    count = sum(1 for _ in directory.rglob("*.cpython-313.pyc"))
    return f"{directory.name}: {count} .pyc files compiled by {python313} (unchecked-hash){note}"


def report(build_dir: Path) -> list[Size]:
    sizes = [measure(d) for d in sorted(build_dir.iterdir()) if d.is_dir()]
    print(f"Artifacts in {build_dir} (what `sam deploy` uploads, one zip each):")
    print(f"  {'artifact':<18} {'files':>6} {'unzipped':>12} {'zipped':>12}")
    for s in sizes:
        print(f"  {s.name:<18} {s.files:>6} {_mb(s.unzipped):>12} {_mb(s.zipped):>12}")
    total = sum(s.unzipped for s in sizes)
    print(
        f"  {'total':<18} {sum(s.files for s in sizes):>6} {_mb(total):>12} "
        f"{_mb(sum(s.zipped for s in sizes)):>12}   "
        "(Lambda's limit for a function and its layers: 250 MiB unzipped)"
    )
    return sizes


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def main(argv: list[str]) -> int:
    build_dir = Path(argv[0] if argv else ".aws-sam/build")
    function_dir = build_dir / "BillingFunction"
    if not function_dir.is_dir():
        print(f"{function_dir} does not exist: run `sam build` first", file=sys.stderr)
        return 1
    print(compile_function(function_dir, find_python313()))
    report(build_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
