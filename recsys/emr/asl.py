"""Amazon States Language intrinsics for values known only at run time (the run id).

A request is built once with :data:`RUN_ID_SENTINEL` standing for the run id;
:func:`asl_dynamic` turns every value holding it into a ``key.$`` intrinsic over ``$.run_id``.
"""

from __future__ import annotations

from typing import Any

RUN_ID_SENTINEL = "__RECSYS_RUN_ID__"


def asl_literal(text: str) -> str:
    """A quoted string literal for an ASL intrinsic function."""
    escaped = "".join("\\" + c if c in "'{}\\" else c for c in text)
    return f"'{escaped}'"


def _asl_expression(text: str) -> str:
    if text == RUN_ID_SENTINEL:
        return "$.run_id"
    parts = text.split(RUN_ID_SENTINEL)
    template = "{}".join(asl_literal(p)[1:-1] for p in parts)
    return f"States.Format('{template}'" + ", $.run_id" * (len(parts) - 1) + ")"


def _asl_item(text: str) -> str:
    return _asl_expression(text) if RUN_ID_SENTINEL in text else asl_literal(text)


def asl_dynamic(node: Any) -> Any:
    """Turn every value holding the run-id sentinel into a ``.$`` intrinsic over $.run_id."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(value, str) and RUN_ID_SENTINEL in value:
                out[key + ".$"] = _asl_expression(value)
            elif (
                isinstance(value, list)
                and all(isinstance(v, str) for v in value)
                and any(RUN_ID_SENTINEL in v for v in value)
            ):
                out[key + ".$"] = "States.Array(" + ", ".join(_asl_item(v) for v in value) + ")"
            else:
                out[key] = asl_dynamic(value)
        return out
    if isinstance(node, list):
        return [asl_dynamic(v) for v in node]
    return node
