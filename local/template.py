"""Reads template.yaml the way SAM does, so local runs use the deployed function's own definition."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


@lru_cache(maxsize=1)
def load_template() -> dict[str, Any]:
    """template.yaml as plain dicts; short-form tags become their long forms (`!Ref x` -> {"Ref": "x"})."""
    return dict(cfn_yaml.load(str(TEMPLATE)))


@dataclass(frozen=True)
class FunctionDefinition:
    logical_id: str
    code_uri: Path
    handler: str
    timeout: float
    memory_mb: int
    # Each variable the template declares, with the value it has when nothing overrides it.
    environment: dict[str, str]
    # Variables that name one of the template's own resources (`!Ref Table`, or either branch of an `!If`).
    resource_variables: dict[str, str]


def function_definition(logical_id: str) -> FunctionDefinition:
    """A function's properties merged over the template's Globals, as `sam local invoke` resolves them."""
    template = load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    props = {**defaults, **template["Resources"][logical_id]["Properties"]}
    env = {
        **defaults.get("Environment", {}).get("Variables", {}),
        **props.get("Environment", {}).get("Variables", {}),
    }
    return FunctionDefinition(
        logical_id=logical_id,
        code_uri=ROOT / props["CodeUri"],
        handler=props["Handler"],
        timeout=float(props["Timeout"]),
        memory_mb=int(props["MemorySize"]),
        environment={name: _default_value(value, template) for name, value in env.items()},
        resource_variables={
            name: resource
            for name, value in env.items()
            if (resource := _referenced_resource(value, template))
        },
    )


def _default_value(value: Any, template: dict[str, Any]) -> str:
    """A literal, or a `Ref` to a parameter's default; anything else resolves to "" as in `sam local`."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = template.get("Parameters", {}).get(value["Ref"], {})
        return str(parameter.get("Default", ""))
    return ""


def _referenced_resource(value: Any, template: dict[str, Any]) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template["Resources"]:
        return str(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        branches = value["Fn::If"][1:]
        return next((r for b in branches if (r := _referenced_resource(b, template))), None)
    return None
