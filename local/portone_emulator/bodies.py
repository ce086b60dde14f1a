"""Request bodies and query strings as PortOne reads them (README §1.1).

Bodies are JSON or ``application/x-www-form-urlencoded``; form keys use bracket notation, so
``a[0][b]=1&a[0][c]=2&t[]=x&t[]=y`` reads as ``{"a": [{"b": "1", "c": "2"}], "t": ["x", "y"]}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^(?P<name>[^\[\]]+)(?P<rest>(?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class BodyError(ValueError):
    """The body cannot be read as the content type it claims."""


def is_json(content_type: str) -> bool:
    return "json" in content_type.lower()


def is_readable(content_type: str) -> bool:
    """JSON or a form, the two bodies the schema lists; a server reads no other (no type at all neither)."""
    return is_json(content_type) or "x-www-form-urlencoded" in content_type.lower()


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """The body's fields; none from a body ``is_readable`` refuses, as a web framework's parsers skip it."""
    if not raw.strip() or not is_readable(content_type):
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError("body is not UTF-8") from exc
    if not is_json(content_type):
        return nest(parse_qsl(text, keep_blank_values=True))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError("body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise BodyError("JSON body is not an object")
    return data


def parse_query(query: str) -> dict[str, Any]:
    return nest(query_pairs(query))


def query_pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Bracket-notation pairs to nested dicts and lists; numeric and empty (``[]``) segments make lists."""
    root: dict[str | int, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        path: list[str | int] = [key] if match is None else [match["name"]]
        if match is not None:
            path += [int(s) if s.isdigit() else s for s in _SEGMENT.findall(match["rest"])]
        node = root
        for segment in path[:-1]:
            child = node.setdefault(_index(node, segment), {})
            if not isinstance(child, dict):
                raise BodyError(f"form key {key!r} mixes a value and a nested field")
            node = child
        leaf = _index(node, path[-1])
        if isinstance(node.get(leaf), dict):
            raise BodyError(f"form key {key!r} mixes a value and a nested field")
        node[leaf] = value
    return {str(k): _listify(v) for k, v in root.items()}


def _index(node: dict[str | int, Any], segment: str | int) -> str | int:
    # "[]" appends: the next free integer index of this container.
    if segment != "":
        return segment
    return max((k for k in node if isinstance(k, int)), default=-1) + 1


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if value and all(isinstance(k, int) for k in value):
        return [_listify(value[k]) for k in sorted(value)]
    return {str(k): _listify(v) for k, v in value.items()}
