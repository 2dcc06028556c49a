"""Night over night: how tonight's lists and metrics differ from the last published run's,
and the drift gate that may keep ``latest`` where it is.

Runs number users and songs afresh, so the lists are compared by ``user_id`` and
``song_id``. The figures (:func:`compare_runs`):

- ``top_k_jaccard_mean``: over the users listed in both runs, the mean of
  ``|A ∩ B| / |A ∪ B|`` of their top-k songs; ``top_k_churn`` is one minus it;
- ``first_pick_changed_share``: the share of those users whose first pick changed;
- ``users_new`` / ``users_gone``: users listed tonight only / last night only;
- ``coverage``: distinct songs in all lists over the catalogue, before and after;
- ``songs_entered`` / ``songs_left``: songs in tonight's lists and in none of last night's,
  and the reverse;
- ``metrics``: each model's evaluation metrics, both nights and the delta.

Every shuffle is bounded by the lists (users x list depth), never by the catalogue squared.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from recsys import schemas as S

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

COMPARISON_TABLE = S.RUN_COMPARISON
GATE = "drift"


def list_figures(before: DataFrame, after: DataFrame, k: int) -> dict[str, Any]:
    """The list figures of the module docstring from two (user_id, song_id, rank) frames."""
    a = before.where(F.col(S.RANK) <= k).select(S.USER_ID, S.SONG_ID, F.col(S.RANK).alias("ra"))
    b = after.where(F.col(S.RANK) <= k).select(S.USER_ID, S.SONG_ID, F.col(S.RANK).alias("rb"))
    per_user = (
        a.join(b, [S.USER_ID, S.SONG_ID], "full_outer")
        .groupBy(S.USER_ID)
        .agg(
            F.count("ra").alias("na"),
            F.count("rb").alias("nb"),
            F.count(F.when(F.col("ra").isNotNull() & F.col("rb").isNotNull(), 1)).alias("both"),
            F.min_by(S.SONG_ID, "ra").alias("first_a"),
            F.min_by(S.SONG_ID, "rb").alias("first_b"),
        )
    )
    common = (F.col("na") > 0) & (F.col("nb") > 0)
    jaccard = F.col("both") / (F.col("na") + F.col("nb") - F.col("both"))
    row = per_user.agg(
        F.count(F.when(common, 1)).alias("users_compared"),
        F.count(F.when(F.col("na") == 0, 1)).alias("users_new"),
        F.count(F.when(F.col("nb") == 0, 1)).alias("users_gone"),
        F.avg(F.when(common, jaccard)).alias("jaccard"),
        F.avg(F.when(common, (F.col("first_a") != F.col("first_b")).cast("double"))).alias(
            "first_changed"
        ),
    ).first()
    songs_a = before.select(S.SONG_ID).distinct()
    songs_b = after.select(S.SONG_ID).distinct()
    jac = row["jaccard"]
    return {
        "k": k,
        "users_compared": int(row["users_compared"]),
        "users_new": int(row["users_new"]),
        "users_gone": int(row["users_gone"]),
        "top_k_jaccard_mean": None if jac is None else float(jac),
        "top_k_churn": None if jac is None else 1.0 - float(jac),
        "first_pick_changed_share": None
        if row["first_changed"] is None
        else float(row["first_changed"]),
        "listed_songs": {"previous": songs_a.count(), "current": songs_b.count()},
        "songs_entered": songs_b.join(songs_a, S.SONG_ID, "left_anti").count(),
        "songs_left": songs_a.join(songs_b, S.SONG_ID, "left_anti").count(),
    }


def metric_deltas(
    previous: dict[str, dict[str, float]] | None, current: dict[str, dict[str, float]] | None
) -> list[dict[str, Any]]:
    """Every (model, metric) both nights measured: previous, current and the delta."""
    out = []
    for model in sorted(set(previous or {}) & set(current or {})):
        p, c = previous[model], current[model]
        for metric in sorted(set(p) & set(c)):
            pv, cv = p[metric], c[metric]
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (pv, cv)):
                continue
            out.append(
                {"model": model, "metric": metric, "previous": pv, "current": cv, "delta": cv - pv}
            )
    return out


def labelled_lists(recommendations: DataFrame, users: DataFrame, songs: DataFrame) -> DataFrame:
    """A run's user_recommendations as (user_id, song_id, rank): comparable across runs."""
    recs = recommendations.select(S.USER, S.SONG, S.RANK)
    return (
        recs.join(users.select(S.USER, S.USER_ID), S.USER)
        .join(songs.select(S.SONG, S.SONG_ID), S.SONG)
        .select(S.USER_ID, S.SONG_ID, S.RANK)
    )


def compare_runs(
    previous: str,
    lists: tuple[DataFrame, DataFrame],
    k: int,
    catalogue: tuple[int | None, int | None],
    metrics: tuple[dict | None, dict | None],
) -> dict[str, Any]:
    """The comparison with run ``previous``; each pair is (previous, current): the
    :func:`labelled_lists`, the songs tables' sizes and the evaluation's metrics by model
    (as the manifests hold them)."""
    figures = list_figures(*lists, k)
    listed = figures["listed_songs"]
    figures["coverage"] = {
        side: (listed[side] / size if size else None)
        for side, size in zip(("previous", "current"), catalogue, strict=True)
    }
    figures["metrics"] = metric_deltas(*metrics)
    return {"previous_run": previous, **figures}


def comparison_rows(comparison: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """The comparison as (figure, previous, current) rows for its small table."""
    rows: list[tuple[str, float | None, float | None]] = []
    for key in ("top_k_jaccard_mean", "top_k_churn", "first_pick_changed_share"):
        rows.append((f"{key}@{comparison['k']}", None, comparison.get(key)))
    for key in ("users_compared", "users_new", "users_gone", "songs_entered", "songs_left"):
        rows.append((key, None, float(comparison[key])))
    for key in ("listed_songs", "coverage"):
        pair = comparison[key]
        rows.append((key, pair["previous"], pair["current"]))
    for m in comparison["metrics"]:
        rows.append((f"{m['model']} {m['metric']}", m["previous"], m["current"]))
    return [(f, _float(p), _float(c)) for f, p, c in rows]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _interval(evaluation: dict | None, metric: str) -> float | None:
    found = ((evaluation or {}).get("intervals") or {}).get("hybrid", {}).get(metric) or {}
    ci = found.get("ci95")
    return float(ci) if isinstance(ci, (int, float)) and math.isfinite(ci) else None


def drift_gate(
    comparison: dict[str, Any] | None,
    metric: str,
    evaluations: tuple[dict | None, dict | None],
    max_metric_drop: float,
    max_churn: float,
    same_inputs_and_code: bool,
) -> dict[str, Any]:
    """The drift gate as {name, passed, detail}.

    Refused when the hybrid's ``metric`` fell by more than ``max_metric_drop`` beyond the
    95% interval of the change (the two nights' intervals combined, ``sqrt(a² + b²)``), or
    when the top-k churn is above ``max_churn`` while the inputs and the code are last
    night's (nothing explains the change). ``evaluations`` is (previous, current).
    """
    if not comparison or "metrics" not in comparison:
        why = (comparison or {}).get("skipped") or "no published run to compare with"
        return {"name": GATE, "passed": True, "detail": f"not checked: {why}"}
    previous_id = comparison["previous_run"]
    problems, notes = [], []
    found = [m for m in comparison["metrics"] if m["model"] == "hybrid" and m["metric"] == metric]
    if not found:
        notes.append(f"no hybrid {metric} in both runs")
    else:
        m = found[0]
        drop = m["previous"] - m["current"]
        cis = [_interval(e, metric) for e in evaluations]
        ci = math.sqrt(sum(c * c for c in cis if c is not None))
        missing = "" if all(c is not None for c in cis) else " (an interval is missing: 0 taken)"
        beyond = drop - ci
        text = (
            f"hybrid {metric} {m['previous']:.4f} -> {m['current']:.4f} (change {-drop:+.4f}, "
            f"95% interval of the change ±{ci:.4f}{missing})"
        )
        if beyond > max_metric_drop:
            problems.append(
                f"{text}: fell {beyond:.4f} beyond its interval, more than "
                f"publish.drift.max_metric_drop {max_metric_drop:g} "
                f"(by {beyond - max_metric_drop:.4f})"
            )
        else:
            notes.append(text)
    churn = comparison.get("top_k_churn")
    k = comparison.get("k")
    if churn is None:
        notes.append(f"no user listed in both runs: top-{k} churn not measured")
    elif churn > max_churn and same_inputs_and_code:
        problems.append(
            f"top-{k} churn {churn:.3f} above publish.drift.max_churn {max_churn:g} "
            f"(by {churn - max_churn:.3f}) while the inputs' fingerprints and the code version "
            f"are those of run {previous_id}"
        )
    else:
        why = "" if same_inputs_and_code else " (inputs or code changed)"
        notes.append(f"top-{k} churn {churn:.3f}{why}")
    detail = f"against {previous_id}: " + "; ".join(problems or notes)
    return {"name": GATE, "passed": not problems, "detail": detail}
