"""`make deploy` refuses a layer built for another architecture than the stack's (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.deploy_arch import deployed_architecture, main


def samconfig(tmp_path: Path, overrides_line: str = "") -> Path:
    """A samconfig.toml as `sam deploy --guided` saves it, with `overrides_line` in its deploy parameters."""
    path = tmp_path / "samconfig.toml"
    path.write_text(f'version = 0.1\n[default.deploy.parameters]\nstack_name = "billing"\n{overrides_line}\n')
    return path


@pytest.mark.parametrize(
    ("overrides_line", "deployed"),
    [
        ("", "arm64"),  # none saved: the template's default
        (r'parameter_overrides = "Architecture=\"x86_64\" PortOnePg=\"nice.nictest04m\""', "x86_64"),
        (r'parameter_overrides = "PortOnePg=\"nice\""', "arm64"),
        ('parameter_overrides = ["Architecture=x86_64", "PortOnePg=nice"]', "x86_64"),
    ],
)
def test_the_deployed_architecture_is_read_from_the_saved_parameters(
    tmp_path, overrides_line, deployed
) -> None:
    assert deployed_architecture(samconfig(tmp_path, overrides_line)) == deployed


def test_a_layer_built_for_another_architecture_is_refused(tmp_path, capsys) -> None:
    config = samconfig(tmp_path)  # deployed for arm64

    assert main(["--arch", "arm64", "--samconfig", str(config)]) == 0
    assert main(["--arch", "x86_64", "--samconfig", str(config)]) == 2
    assert "make deploy ARCH=arm64" in capsys.readouterr().err


def test_make_deploy_runs_the_guard_before_sam_deploy() -> None:
    from local.template import ROOT

    recipe = (ROOT / "Makefile").read_text().split("\ndeploy:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("local.deploy_arch --arch $(ARCH)") < recipe.index("$(SAM) deploy --template-file")
