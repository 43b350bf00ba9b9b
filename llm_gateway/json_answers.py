"""JSON answers: find the one JSON object of an answer and check it against the template's schema.

The object is the first ```json block that parses, else the first balanced ``{...}`` of the
answer (reasoning removed). The schema check covers the subset of JSON Schema our templates
use: type, properties, required, items, additionalProperties, minimum, maximum and local
``$ref``s. Each violation is one finding.
"""

import json
from collections.abc import Iterator

from llm_gateway.domain import FinishReason
from llm_gateway.extraction import Extraction, end_of_turn, fenced_blocks
from llm_gateway.reasoning import split_reasoning
from netapi.findings import Finding
from netapi.outcomes import Outcome, Stage

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "null": type(None),
}
MAX_VIOLATIONS = 20


def _finding(rule: str, outcome: Outcome, message: str, stage: Stage = Stage.EXTRACT) -> Finding:
    return Finding(rule, outcome, message, stage=stage)


def _first_object(text: str) -> tuple[dict | None, bool]:
    """(the first JSON object in text, whether an opening brace was seen at all)."""
    decoder = json.JSONDecoder()
    seen = False
    for start, char in enumerate(text):
        if char != "{":
            continue
        seen = True
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value, True
    return None, seen


def extract_json(text: str, finish_reason: FinishReason) -> tuple[Extraction, dict | None]:
    """The answer's JSON object (canonical text in the extraction) or findings saying why not."""
    answer, reasoning, _ = split_reasoning(end_of_turn(text))
    for block in fenced_blocks(answer):
        if block.language in ("json", "jsonc", ""):
            value, _ = _first_object(block.code)
            if value is not None:
                return _found(value, "fenced-json", reasoning), value
    value, seen = _first_object(answer)
    if value is not None:
        return _found(value, "bare-json", reasoning), value
    if finish_reason is FinishReason.LENGTH:
        finding = _finding(
            "truncated-answer",
            Outcome.TRUNCATED,
            "the answer reached max_new_tokens before its JSON closed",
        )
    elif seen:
        finding = _finding("invalid-json", Outcome.SYNTAX_ERROR, "the answer's JSON does not parse")
    else:
        finding = _finding("no-json", Outcome.NO_CODE, "the answer contains no JSON object")
    return Extraction("", "", reasoning, (finding,)), None


def _found(value: dict, rule: str, reasoning: str) -> Extraction:
    return Extraction(json.dumps(value, indent=2, ensure_ascii=False), rule, reasoning)


def _resolve(schema: dict, root: dict) -> dict:
    reference = schema.get("$ref")
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return schema
    node = root
    for part in reference[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _type_ok(value: object, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(expected, object))


def _violations(value: object, schema: dict, root: dict, path: str) -> Iterator[str]:
    schema = _resolve(schema, root)
    expected = schema.get("type")
    if isinstance(expected, str) and not _type_ok(value, expected):
        yield f"{path or 'the answer'} must be {expected}, not {type(value).__name__}"
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{path} = {value} is below {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{path} = {value} is above {schema['maximum']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                yield f"{path or 'the answer'} lacks the key '{key}'"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                yield from _violations(item, properties[key], root, f"{path}.{key}".lstrip("."))
            elif isinstance(extra, dict):
                yield from _violations(item, extra, root, f"{path}.{key}".lstrip("."))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _violations(item, schema["items"], root, f"{path}[{index}]")


def schema_findings(value: dict, schema_text: str | None) -> list[Finding]:
    """One finding per way the object breaks the schema (at most MAX_VIOLATIONS)."""
    if not schema_text:
        return []
    schema = json.loads(schema_text)
    findings = []
    for message in _violations(value, schema, schema, ""):
        findings.append(_finding("json-schema", Outcome.API_NONCOMPLIANCE, message, Stage.STATIC))
        if len(findings) == MAX_VIOLATIONS:
            break
    return findings
