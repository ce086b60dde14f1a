"""Contract checks against PortOne's own V1 schema (``v1.openapi.json`` beside this module, Swagger 2.0).

``request_violations`` checks what a client sent against an operation's parameters (the emulator refuses a
request whose values break the schema's rules, its ``Violation.malformed``); ``response_violations``
checks a body against the operation's schema for that status. Both return readable strings naming the
operation, the field and the rule broken, never a value (requests carry card data).

How the schema is read:

- ``$ref`` to ``#/definitions/...`` are inlined and ``allOf`` parts merged into one object.
- ``maxLength`` is written as a string ("80") in the definitions; it is read as a number.
- Properties the schema does not require may be JSON null: PortOne sends its optional fields as null, and
  ``message`` is null on success (README §1.2).
- Response objects may hold only documented properties: the emulator must not invent fields. Real PortOne
  bodies may carry fields newer than this schema, so do not use this on captured live responses.
- The envelope rules the schema cannot say (README §1.2) are checked too: ``code``, ``message`` and
  ``response`` are always there, ``message`` is null when ``code`` is 0, ``response`` is null otherwise.
- Array parameters whose items are objects (``schedules[]``) are checked item by item, like parameters.
- Where the schema and reality disagree, ``REQUEST_EXCEPTIONS``, ``UNLISTED_STATUSES`` and
  ``PAGED_RESPONSES`` name each known case and cite the README.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, ValidationError  # type: ignore[import-untyped]

SPEC_FILE = Path(__file__).with_name("v1.openapi.json")

# (method, path template, parameter, rule) -> why the emulator does not hold clients to it. An item field
# of an array parameter is named "array[].field"; "single value" lets an array parameter be one string.
REQUEST_EXCEPTIONS: dict[tuple[str, str, str, str], str] = {
    ("POST", "/subscribe/payments/schedule", "schedules[].currency", "required"): (
        "the spec's own description says 'Default: KRW' and PortOne's samples omit it (README §4.1)"
    ),
    ("POST", "/subscribe/payments/schedule", "schedules[].name", "required"): (
        "PortOne's own guide and older official clients omit it (README §4.1, S3, S8)"
    ),
    ("POST", "/subscribe/payments/unschedule", "merchant_uid", "single value"): (
        "one string works in practice; the official Python client's live test sends one (README §4.2, S8)"
    ),
}

# What the emulator's `legacy_pg` switch lets a client leave out: `channel_key`, required only since the 2026
# spec (older specs lack it and `pg` is still documented, README §3.1, §9). Not an exception by default.
LEGACY_PG: frozenset[tuple[str, str, str, str]] = frozenset(
    {("POST", "/subscribe/customers/{customer_uid}", "channel_key", "required")}
)

# (method, path template, status) the emulator answers although the operation does not list the status.
UNLISTED_STATUSES: dict[tuple[str, str, int], str] = {
    ("POST", "/users/getToken", 400): "missing imp_key/imp_secret, inferred in README §1.4",
    ("GET", "/subscribe/customers/{customer_uid}/payments", 400): (
        "a page below 1; the spec lists no 400 here, so the schedule lists' documented 400 for invalid "
        "search parameters is followed [inf] (docs §5.5)"
    ),
}

# (method, path template, status) whose ``response`` is the paged object ``{total, previous, next, list}``
# holding the spec's array as ``list``, not the array itself. ``response_violations(..., spec_arrays=True)``
# takes the spec's own array there instead: the emulator's named switch ``schedule_lists_as_array``.
PAGED_RESPONSES: dict[tuple[str, str, int], str] = {
    **{
        (method, template, 200): (
            "the spec says an array; the official PHP and Java SDKs and real code read a paged object, and "
            "the README says to send that (README §4.4)"
        )
        for method, template in (
            ("GET", "/subscribe/payments/schedule/customers/{customer_uid}"),
            ("GET", "/subscribe/customers/{customer_uid}/schedules"),
        )
    },
    ("GET", "/subscribe/payments/schedule", 200): (
        "the spec says an array, yet its own description says '(페이징된)목록' (a paged list) and takes "
        "page and limit; the Java SDK's ScheduleList reads the paged object (README §4.4)"
    ),
}

_ENVELOPE_KEYS = {"code", "message", "response"}
# ASCII digits only, the whole text: int() and float() would also take "٨٩", "8_900", " 89" and "89\n".
_INTEGER_TEXT = re.compile(r"\A[-+]?[0-9]+\Z")
_NUMBER_TEXT = re.compile(r"\A[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_KEPT_KEYWORDS = ("type", "enum", "maxLength", "minLength", "maximum", "minimum", "pattern")


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    return data


def operation(method: str, template: str) -> dict[str, Any]:
    try:
        op: dict[str, Any] = spec()["paths"][template][method.lower()]
    except KeyError:
        raise ValueError(f"{method} {template} is not an operation of PortOne's spec") from None
    return op


def answers(method: str, template: str, status: int) -> bool:
    """Whether the operation answers ``status``: its schema lists it or ``UNLISTED_STATUSES`` names it."""
    listed = str(status) in operation(method, template).get("responses", {})
    return listed or (method, template, status) in UNLISTED_STATUSES


# --- requests ---


@dataclass(frozen=True)
class Violation:
    """One rule a request breaks. ``text`` names the operation, the field and the rule, never a value.
    ``place`` and ``field`` say where the field is and its name in the schema; ``rule`` is what it broke:
    ``required``, ``unknown`` (not in the spec), or a malformed value: ``type``, ``maxLength`` (``limit``
    long) or ``enum``."""

    text: str
    place: str
    field: str
    rule: str
    limit: int | None = None

    @property
    def malformed(self) -> bool:
        """A value was given and the schema's rules refuse it (as opposed to a field missing or unknown)."""
        return self.rule in ("type", "maxLength", "enum")

    def __str__(self) -> str:
        return self.text


def request_violations(
    method: str,
    template: str,
    *,
    path_params: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    body: Mapping[str, Any],
    form: bool,
    allowed: frozenset[tuple[str, str, str, str]] = frozenset(),
) -> list[Violation]:
    """Check a request: ``query`` as flat pairs, ``body`` as parsed (``form``: from a form, so all text);
    ``allowed``: rules a switched-on leniency lets the client break, as ``REQUEST_EXCEPTIONS`` names them.
    An empty value counts as not given, as PortOne's readers take it (``fields.text``) [inf]: a form has no
    null."""
    where = f"request {method} {template}"
    grouped: dict[str, list[str]] = {}
    for key, text in query:
        grouped.setdefault(key, []).append(text)
    given: dict[str, Mapping[str, Any]] = {"path": path_params, "query": grouped, "formData": body}
    documented: dict[str, set[str]] = {place: set() for place in given}
    violations: list[Violation] = []
    for param in operation(method, template).get("parameters", []):
        name, place = param["name"], param["in"]
        documented.setdefault(place, set()).add(name)
        label = f"{where}: {place} parameter '{name}'"
        value = given.get(place, {}).get(name)
        if place == "query" and value is not None and param.get("type") != "array":
            if len(value) > 1:
                violations.append(Violation(f"{label} is repeated", place, name, "type"))
            value = value[0]
        if value is None or value == "":
            rule = (method, template, name, "required")
            if param.get("required") and rule not in REQUEST_EXCEPTIONS and rule not in allowed:
                violations.append(Violation(f"{label} is required", place, name, "required"))
            continue
        as_text = form or place != "formData"
        if isinstance(value, str) and (method, template, name, "single value") in REQUEST_EXCEPTIONS:
            continue
        problem = _parameter_problem(param, value, as_text=as_text)
        if problem:
            violations.append(Violation(f"{label} {problem.text}", place, name, problem.rule, problem.limit))
        elif isinstance(value, list) and "$ref" in param.get("items", {}):
            violations += _item_violations(
                method, template, f"{where}: {place} parameter", param, value, as_text
            )
    for place, values in given.items():
        for name in sorted(set(values) - documented[place]):
            base = name.split("[", 1)[0]
            if place == "query" and base != name and base in documented["query"]:
                # `page[]=2`, `from[x]=1`: a documented single value sent in bracket notation, which nests
                # into an array or object where the schema wants one value.
                label = f"{where}: query parameter '{base}'"
                violations.append(Violation(f"{label} must be a single value", place, base, "type"))
            else:
                label = f"{where}: {place} parameter '{name}'"
                violations.append(Violation(f"{label} is not in the spec", place, name, "unknown"))
    return violations


@dataclass(frozen=True)
class _Problem:
    text: str
    rule: str
    limit: int | None = None


def _parameter_problem(param: Mapping[str, Any], value: Any, *, as_text: bool) -> _Problem | None:
    kind = param.get("type")
    if kind == "array":
        item_kind = param.get("items", {}).get("type")
        if not isinstance(value, list):
            return _Problem("must be an array", "type")
        if not all(_has_type(item_kind, item, as_text) for item in value):
            return _Problem(f"must hold {item_kind} items", "type")
        return None
    if not _has_type(kind, value, as_text):
        return _Problem(f"must be {kind}" + (" text" if as_text else ""), "type")
    if "maxLength" in param and isinstance(value, str) and len(value) > int(param["maxLength"]):
        limit = int(param["maxLength"])
        return _Problem(f"is longer than {limit}", "maxLength", limit)
    if "enum" in param and value not in param["enum"]:
        return _Problem("is not one of the spec's values", "enum")
    return None


def _item_violations(
    method: str, template: str, label: str, param: Mapping[str, Any], items: list[Any], as_text: bool
) -> list[Violation]:
    """Each object of an array parameter against the item definition (``schedules[]``: ScheduleAnnotation)."""
    name, place = param["name"], param["in"]
    members, required = _members(param["items"], ())
    violations = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            violations.append(Violation(f"{label} '{name}[{index}]' must be an object", place, name, "type"))
            continue
        for field in sorted(required - set(k for k, v in item.items() if v not in (None, ""))):
            if (method, template, f"{name}[].{field}", "required") not in REQUEST_EXCEPTIONS:
                violations.append(
                    Violation(f"{label} '{name}[{index}].{field}' is required", place, field, "required")
                )
        for field, value in item.items():
            if field not in members:
                violations.append(
                    Violation(
                        f"{label} '{name}[{index}].{field}' is not in the spec", place, field, "unknown"
                    )
                )
            elif value not in (None, ""):
                schema = _deref(*members[field])[0]
                problem = _parameter_problem(schema, value, as_text=as_text)
                if problem:
                    text = f"{label} '{name}[{index}].{field}' {problem.text}"
                    violations.append(Violation(text, place, field, problem.rule, problem.limit))
    return violations


def _has_type(kind: str | None, value: Any, as_text: bool) -> bool:
    """JSON types in JSON bodies; in forms, query strings and paths everything is text that must parse."""
    if kind is None:
        return True
    if kind == "object":
        return isinstance(value, dict)
    if as_text:
        if not isinstance(value, str):
            return False
        if kind == "integer":
            return bool(_INTEGER_TEXT.match(value))
        if kind == "number":
            return bool(_NUMBER_TEXT.match(value))
        if kind == "boolean":
            return value in ("true", "false")
        return kind == "string"
    if isinstance(value, bool):
        return kind == "boolean"
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int),
        "number": isinstance(value, int | float) and math.isfinite(value),  # json.loads reads NaN
    }.get(kind, False)


# --- responses ---


def response_violations(
    method: str, template: str, status: int, body: Any, *, spec_arrays: bool = False
) -> list[str]:
    """Check a response body; ``spec_arrays``: the ``PAGED_RESPONSES`` answer the spec's array instead."""
    where = f"response {method} {template} {status}"
    violations = [f"{where}: {problem}" for problem in _envelope_problems(body)]
    entry = operation(method, template)["responses"].get(str(status))
    if entry is None:
        if not answers(method, template, status):
            violations.append(f"{where}: status {status} is not documented for this operation")
        return violations
    if "schema" in entry:
        paged = (method, template, status) in PAGED_RESPONSES and not spec_arrays
        validator = _validator(method, template, status, paged)
        errors = sorted(validator.iter_errors(body), key=lambda e: str(e.path))
        # dict.fromkeys: Draft 4 reports each missing required property apart, _describe names them all.
        violations += list(dict.fromkeys(f"{where}: {_describe(e)}" for e in errors))
    return violations


def _envelope_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = []
    if set(body) != _ENVELOPE_KEYS:
        problems.append("envelope must have exactly code, message and response")
    code = body.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        problems.append("envelope code must be an integer")
    elif code == 0 and body.get("message") is not None:
        problems.append("message must be null on success")
    elif code != 0 and (body.get("response") is not None or not isinstance(body.get("message"), str)):
        problems.append("a failure must carry a message and a null response")
    return problems


@functools.cache
def _validator(method: str, template: str, status: int, paged: bool = False) -> Draft4Validator:
    schema = operation(method, template)["responses"][str(status)]["schema"]
    if paged:
        schema = _paged(schema)
    # The billing-key operations describe 200 as a map of alternatives, {CustomerResponse,
    # SuperBillingKeyResponse}, not as an object with those members. The emulator issues no super billing
    # keys (channel_group_id is out of scope, README §3.1), so its bodies are CustomerResponse.
    alternatives = schema.get("properties", {})
    if set(schema) == {"properties"} and "CustomerResponse" in alternatives:
        schema = alternatives["CustomerResponse"]
    return Draft4Validator(_compile(schema, ()))


def _paged(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The envelope with ``response`` as ``{total, previous, next, list}``, ``list`` the spec's array."""
    members, _ = _members(schema, ())
    array = members["response"][0]
    page = {
        "type": "object",
        "required": ["total", "previous", "next", "list"],
        "properties": {
            "total": {"type": "integer"},
            "previous": {"type": "integer"},  # 0: no such page (README §4.4)
            "next": {"type": "integer"},
            "list": array,
        },
    }
    return {"allOf": [{"$ref": "#/definitions/ResponseAnnotation"}, {"properties": {"response": page}}]}


def _compile(schema: Mapping[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    schema, seen = _deref(schema, seen)
    if "allOf" in schema or "properties" in schema:
        members, required = _members(schema, seen)
        properties = {}
        for name, (member, member_seen) in members.items():
            compiled = _compile(member, member_seen)
            properties[name] = compiled if name in required else _nullable(compiled)
        compiled_object: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            compiled_object["required"] = sorted(required)
        return compiled_object
    compiled = {key: schema[key] for key in _KEPT_KEYWORDS if key in schema}
    for key in ("maxLength", "minLength"):
        if key in compiled:
            compiled[key] = int(compiled[key])
    if "items" in schema:
        compiled["items"] = _compile(schema["items"], seen)
    return compiled


def _deref(schema: Mapping[str, Any], seen: tuple[str, ...]) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/definitions/")
        if name in seen:
            raise ValueError(f"recursive definition {name} in the spec")
        schema, seen = spec()["definitions"][name], (*seen, name)
    return schema, seen


def _members(
    schema: Mapping[str, Any], seen: tuple[str, ...]
) -> tuple[dict[str, tuple[Mapping[str, Any], tuple[str, ...]]], set[str]]:
    """Properties and required names of an object, its ``allOf`` parts merged; later parts win."""
    schema, seen = _deref(schema, seen)
    members: dict[str, tuple[Mapping[str, Any], tuple[str, ...]]] = {}
    required = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        part_members, part_required = _members(part, seen)
        members.update(part_members)
        required |= part_required
    members.update({name: (member, seen) for name, member in schema.get("properties", {}).items()})
    return members, required


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" not in schema:
        return schema  # an untyped schema accepts null already
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    nullable = {**schema, "type": [*types, "null"]}
    if "enum" in nullable:
        nullable["enum"] = [*nullable["enum"], None]
    return nullable


def _describe(error: ValidationError) -> str:
    """Where and which rule; never the instance, which may be personal data."""
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in instance]
        return f"{where} lacks required {', '.join(missing)}"
    if error.validator == "additionalProperties":
        extra = sorted(set(instance) - set(error.schema.get("properties", {})))
        return f"{where} has undocumented {', '.join(extra)}"
    if error.validator == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{where} must be {' or '.join(kinds)}"
    if error.validator == "maxLength":
        return f"{where} is longer than {error.validator_value}"
    return f"{where} breaks '{error.validator}' of the spec"
