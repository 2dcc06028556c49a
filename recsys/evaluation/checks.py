"""Argument checks shared by the evaluation modules, and the ``metric@k`` label."""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame

from recsys.errors import EvaluationError


def check_ks(ks: Iterable[int]) -> list[int]:
    values = list(ks)
    if not values:
        raise EvaluationError("ks: expected at least one cut-off K, got none")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise EvaluationError(f"ks: expected positive integers, got {k!r}")
    return sorted(set(values))


def check_columns(df: DataFrame, what: str, *columns: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise EvaluationError(
            f"{what}: missing column(s) {', '.join(missing)}; it has {', '.join(df.columns)}"
        )


def check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise EvaluationError(f"{name}: expected a number in [0, 1], got {value!r}")


def metric_key(metric: str, k: int | None) -> str:
    """The ``metric@k`` label used in reports, gates and dict keys (``ndcg@10``)."""
    return metric if k is None else f"{metric}@{k}"


def check_catalogue_size(catalogue_size: int) -> None:
    if isinstance(catalogue_size, bool) or not isinstance(catalogue_size, int):
        raise EvaluationError(f"catalogue_size: expected an integer, got {catalogue_size!r}")
    if catalogue_size < 1:
        raise EvaluationError(f"catalogue_size: expected at least 1, got {catalogue_size}")
