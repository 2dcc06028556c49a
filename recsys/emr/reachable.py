"""Tell an endpoint that lacks an operation (moto, an older region) from one that answered."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

NOT_IMPLEMENTED = ("UnknownOperationException", "NotImplemented", "InvalidAction")


def why_unreachable(exc: Exception) -> str | None:
    """``not reachable (<why>)`` when ``exc`` says the call could not be answered: a 5xx (moto
    answers an operation it lacks with 500), an unknown operation, or no connection. None when
    the endpoint answered (a refusal is the caller's to handle)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or error.get("Code") in NOT_IMPLEMENTED:
            return f"not reachable ({error.get('Code') or status})"
        return None
    if isinstance(exc, BotoCoreError):
        return f"not reachable ({type(exc).__name__})"
    return None
