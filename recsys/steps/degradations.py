"""What the steps could not do with the inputs they had, in sentences a person reads.

A step that works in a reduced mode (an optional input missing, a signal no played song has, a
model with no lists) says so under ``degradations`` in its document, one sentence each that
starts with what is reduced (``"content: no played song has lyrics; ..."``). Publish gathers
them in pipeline order into the manifest; the viewer's Run page shows them.
"""

from __future__ import annotations

from typing import Any

from recsys import names as S
from recsys.errors import InputError

KEY = "degradations"
# Documents of the steps that write no other one.
CONTENT_SUMMARY = "content_summary.json"
HYBRID_SUMMARY = "hybrid_summary.json"
# The document in which each step records its degradations, in pipeline order.
STEP_DOCS = (
    ("ingest", S.QUALITY_REPORT),
    ("train-itemknn", S.ITEMKNN_PARAMS),
    ("content", CONTENT_SUMMARY),
    ("neighbours", S.LSH_RECALL),
    ("hybrid", HYBRID_SUMMARY),
    ("evaluate", S.EVALUATION_JSON),
)


def gather(docs: dict[str, dict[str, Any] | None]) -> list[str]:
    """The degradations of every step's document (by document name), in pipeline order."""
    found: list[str] = []
    for _, name in STEP_DOCS:
        for sentence in (docs.get(name) or {}).get(KEY, []):
            if sentence not in found:
                found.append(sentence)
    return found


def count(n: int, thing: str, things: str | None = None) -> str:
    """``"1 song"``, ``"2,211 songs"``: a number with its noun, for sentences."""
    return f"{n:,} {thing if n == 1 else things or thing + 's'}"


def evaluation_degradations(models: dict[str, dict[str, float]]) -> list[str]:
    """Models the evaluation scored without a single list (coverage 0 at every K): they score
    0 on every metric, which says they are absent, not that they are bad."""
    out = []
    for model, values in sorted(models.items()):
        coverage = [v for key, v in values.items() if key.startswith("coverage@")]
        if coverage and not any(coverage):
            out.append(
                f"evaluate: {model} has no list for any held-out user, so it scores 0 on every "
                "metric (absent, not measured)"
            )
    return out


def nothing_held_out(min_user_songs: int) -> InputError:
    """The error that stops a run whose plays leave the evaluation nobody to hold out."""
    return InputError(
        f"triplets: no user has played {min_user_songs} or more songs "
        "(evaluation.min_user_songs), so the evaluation can hide none of their plays and the "
        "run cannot be judged or published; add plays or lower evaluation.min_user_songs"
    )
