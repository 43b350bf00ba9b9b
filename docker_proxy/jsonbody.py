"""JSON request bodies read as the engine reads them (Go's encoding/json), or Refused.

Go matches field names case-insensitively (and folds a few non-ASCII letters into ASCII
ones) and lets the last of duplicate keys win. So bodies with non-ASCII or
case-insensitively duplicate keys are refused, and every field is looked up
case-insensitively, as the engine would read it.
"""

import json
from collections.abc import Callable

Check = Callable[[object], str | None]  # a field's value -> why it is refused, or None


class Refused(Exception):
    """The body asks for something the policy does not allow."""


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    seen = set()
    for key, _ in pairs:
        if not key.isascii():
            raise Refused(f"non-ASCII field name {key!r}")
        if key.lower() in seen:
            raise Refused(f"duplicate field {key!r} (field names compare case-insensitively)")
        seen.add(key.lower())
    return dict(pairs)


def load_object(body: bytes) -> dict:
    """The JSON object of a body; Refused when it is not one."""
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_pairs)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Refused("the body is not a JSON object")
    return value


def field(obj: dict, name: str) -> object:
    """obj[name] looked up case-insensitively, as Go's encoding/json does; None if absent."""
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return None


def empty(value: object) -> bool:
    """What Go leaves at its zero value (so the engine ignores the field)."""
    return value in (None, "", 0, False, [], {})


def object_of(value: object, what: str) -> dict:
    """A JSON object (absent: empty); Refused when it is something else."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused(f"{what} is not an object")
    return value


def strings(value: object, what: str) -> list[str]:
    """A JSON list of strings (absent: empty); Refused when it is something else."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(f"{what} is not a list of strings")
    return value


def positive_int(value: object) -> bool:
    """A JSON integer above zero (not a bool, not a float)."""
    return type(value) is int and value > 0
