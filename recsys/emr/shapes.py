"""Check a request against the AWS API's own shapes (botocore's service model), offline.

botocore's ``validate_parameters`` checks names, types, required members and ranges; it
does not check enum values (``ActionOnFailure``, ``Market``, ...), so this walks those too.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.exceptions import ParamValidationError
from botocore.model import Shape
from botocore.validate import validate_parameters


class RequestShapeError(ValueError):
    """A request does not match the API's input shape; the message lists why."""


def input_shape(service: str, operation: str) -> Shape:
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def shape_at(service: str, operation: str, *path: str) -> Shape:
    """The shape of a member inside an operation's input, e.g. ``Steps``, ``member``."""
    shape = input_shape(service, operation)
    for name in path:
        shape = shape.member if name == "member" else shape.members[name]
    return shape


def _enum_problems(value: Any, shape: Shape, where: str) -> list[str]:
    if shape.type_name == "structure" and isinstance(value, dict):
        return [
            p
            for key, child in value.items()
            if key in shape.members
            for p in _enum_problems(child, shape.members[key], f"{where}.{key}")
        ]
    if shape.type_name == "list" and isinstance(value, list):
        return [
            p for i, v in enumerate(value) for p in _enum_problems(v, shape.member, f"{where}[{i}]")
        ]
    if shape.type_name == "map" and isinstance(value, dict):
        return [p for k, v in value.items() for p in _enum_problems(v, shape.value, f"{where}.{k}")]
    enum = getattr(shape, "enum", None)
    if enum and isinstance(value, str) and value not in enum:
        return [f"{where}: {value!r} is not one of {', '.join(enum)}"]
    return []


def check(params: Any, shape: Shape, name: str = "request") -> None:
    """Raise :class:`RequestShapeError` unless ``params`` fits ``shape`` (enums included)."""
    problems = []
    try:
        validate_parameters(params, shape)
    except ParamValidationError as exc:
        problems.append(str(exc))
    problems += _enum_problems(params, shape, name)
    if problems:
        raise RequestShapeError(f"{name} does not match the API: " + "; ".join(problems))


def check_request(service: str, operation: str, params: dict[str, Any]) -> None:
    check(params, input_shape(service, operation), f"{service}.{operation}")
