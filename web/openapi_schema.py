"""Pydantic writes JSON Schema 2020-12 (OpenAPI 3.1); this turns it into OpenAPI 3.0's dialect,
which Swagger UI 4 and most client generators read."""

from __future__ import annotations

from typing import Any


def to_openapi30(node: Any) -> Any:
    """The same document with 3.1-only schema forms rewritten, recursively."""
    if isinstance(node, list):
        return [to_openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_openapi30(value) for key, value in node.items()}
    return _ref_alone(_nullable(_exclusive(_const(_examples(out)))))


def _ref_alone(node: dict[str, Any]) -> dict[str, Any]:
    # In 3.0 a $ref's siblings are ignored; a description next to one goes through allOf.
    if "$ref" in node and len(node) > 1:
        return {"allOf": [{"$ref": node.pop("$ref")}], **node}
    return node


def _examples(node: dict[str, Any]) -> dict[str, Any]:
    # A schema's `examples` is a list (3.1); 3.0 has one `example`. A media type's `examples`
    # is a map of named examples, which 3.0 has too, so it is left alone.
    examples = node.get("examples")
    if isinstance(examples, list):
        node.pop("examples")
        if examples:
            node.setdefault("example", examples[0])
    return node


def _const(node: dict[str, Any]) -> dict[str, Any]:
    if "const" in node:
        node["enum"] = [node.pop("const")]
    return node


def _exclusive(node: dict[str, Any]) -> dict[str, Any]:
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[plain], node[bound] = value, True
    return node


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, {type: null}]` becomes X with `nullable: true`."""
    options = node.get("anyOf")
    if not isinstance(options, list) or {"type": "null"} not in options:
        return node
    rest = [o for o in options if o != {"type": "null"}]
    node.pop("anyOf")
    if len(rest) == 1:
        only = rest[0]
        if "$ref" in only:
            node["allOf"] = [only]
        else:
            node = {**only, **node}
    else:
        node["anyOf"] = rest
    node["nullable"] = True
    return node
