"""`make deploy`'s guard: the layer is built for one architecture (its native code, pydantic-core, is compiled
for it), so the stack must be deployed for that same one. `sam deploy` takes the stack's saved parameters, not
the build's, and would ship an x86_64 layer to an arm64 function and report success.

    python -m local.deploy_arch --arch x86_64 [--samconfig samconfig.toml]

exits 0 when the architecture built is the one samconfig.toml deploys (the template's default when it names
none), and 2 with the fix otherwise.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from local.template import ROOT, load_template


@dataclass(frozen=True)
class SavedDeploySettings:
    """What samconfig.toml saved for `sam deploy`: the stack, its region, its parameters."""

    stack_name: str
    region: str
    parameters: dict[str, str]


def saved_deploy_settings(samconfig: Path) -> SavedDeploySettings:
    config = tomllib.loads(samconfig.read_text(encoding="utf-8")) if samconfig.exists() else {}
    default = config.get("default", {})
    deploy = default.get("deploy", {}).get("parameters", {})
    overrides = deploy.get("parameter_overrides", "")
    pairs = overrides if isinstance(overrides, list) else shlex.split(overrides)
    return SavedDeploySettings(
        stack_name=str(deploy.get("stack_name", "")),
        region=str(deploy.get("region") or default.get("global", {}).get("parameters", {}).get("region", "")),
        parameters=dict(pair.split("=", 1) for pair in pairs if "=" in pair),
    )


def deployed_architecture(samconfig: Path) -> str:
    """The `Architecture` the saved deploy parameters name, or the template's default."""
    default: str = load_template()["Parameters"]["Architecture"]["Default"]
    return saved_deploy_settings(samconfig).parameters.get("Architecture", default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True)
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    args = parser.parse_args(argv)
    deployed = deployed_architecture(args.samconfig)
    if args.arch == deployed:
        return 0
    print(
        f"local.deploy_arch: built for {args.arch}, but the stack deploys Architecture={deployed} "
        f"({args.samconfig.name}). Run `make deploy ARCH={deployed}`, or to move the stack to {args.arch}, "
        f"set Architecture={args.arch} in its parameter_overrides first.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
