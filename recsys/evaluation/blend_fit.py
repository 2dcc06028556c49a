"""Fitting the hybrid's blend to the run's own plays (``hybrid.fit``, mode ``fitted``).

Validation users (never the evaluation's held-out users) hide a share of their plays; one ALS
refit (and one item-based refit) sees neither. The hybrid's candidate pool for the validation
users does not depend on the blend, so its inputs are built once; each grid point ranks it
with the production rules and is scored by the publish gate metric on the hidden plays, inside
the hybrid's scoring blocks (:mod:`recsys.evaluation.grid_blocks`: the pool never becomes a
table, one value per user and point leaves the blocks), in two stages:

1. the collaborative score's shares (item-based weight x popularity weight, ALS the rest) at
   alpha 1 (content left out); ties go to the smaller shares, so where neither adds anything
   the collaborative score is ALS's;
2. alpha x popularity exponent with those shares; ties go to the larger alpha (more
   collaborative), then the smaller exponent, so when content adds nothing the chosen blend
   is the collaborative list.

Where ``fit.curve`` is on, one alpha per third of the validation users by songs played is
tried as an alpha curve (with at least ``MIN_CURVE_USERS`` users in each third), and kept only
if it scores higher than the single alpha.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import EvaluationError
from recsys.evaluation import grid_blocks
from recsys.evaluation.checks import metric_key
from recsys.models.hybrid import alpha_column
from recsys.models.pool import PLAYED

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from recsys.config import HybridConfig
    from recsys.models.hybrid import HybridRecommender

_BUCKET = "_bucket"
BUCKETS = 3
# Below this many validation users in a third, a per-third alpha is noise, not a finding.
MIN_CURVE_USERS = 30


def parse_metric(gate_metric: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; the gate metric must be a ranking metric at a K."""
    metric, _, k = gate_metric.partition("@")
    if metric not in S.RANKING_METRICS or not k.isdigit() or int(k) < 1:
        raise EvaluationError(
            f"publish.gate_metric {gate_metric!r}: the blend is fitted on a ranking metric at a "
            f"cut-off, one of {', '.join(m + '@K' for m in S.RANKING_METRICS)}"
        )
    return metric, int(k)


@dataclasses.dataclass
class Validation:
    """What every grid point is scored from: the validation users' pool rows with their
    hidden songs (persisted), the broadcast they are scored against, each user's third by
    songs played and the users per third, the pool's and the lists' depth, the metric."""

    rows: DataFrame
    broadcast: Any
    buckets: DataFrame
    counts: dict[int, int]
    pool_depth: int
    depth: int
    metric: str
    k: int

    def release(self) -> None:
        self.rows.unpersist()
        self.buckets.unpersist()


def validation(
    model, users, hidden, stats, depth: int, metric: str, k: int
) -> tuple[Validation, list[float]]:
    """The :class:`Validation` of ``users`` (their ``hidden`` plays; ``stats`` their songs
    played) and the median songs played per third: the pool rows are built once, and the
    pool never becomes a table."""
    broadcast, rows = model.ranked_inputs(users, depth)
    lists = (
        hidden.select(S.USER, S.SONG)
        .distinct()
        .groupBy(S.USER)
        .agg(F.collect_list(S.SONG).alias(grid_blocks.HIDDEN))
    )
    rows = rows.join(lists, S.USER).persist(StorageLevel.MEMORY_AND_DISK)
    buckets, medians = activity_buckets(stats)
    evaluated = buckets.join(hidden.select(S.USER).distinct(), S.USER, "left_semi")
    counts = {
        int(r[_BUCKET]): int(r["n"])
        for r in evaluated.groupBy(_BUCKET).agg(F.count(F.lit(1)).alias("n")).collect()
    }
    v = Validation(rows, broadcast, buckets, counts, model.pool_size(depth), depth, metric, k)
    return v, medians


def grid_means(
    v: Validation, points: list[tuple[float | None, ...]], cfg: HybridConfig
) -> dict[int, dict[int, tuple[float, int]]]:
    """``{point: {bucket: (sum of the metric, users)}}`` for every grid point.

    A point is ``(alpha, exponent)`` with the config's collaborative shares, or ``(alpha,
    exponent, item_weight, popularity_weight)``; alpha None ranks with each user's own. Every
    point is ranked and scored inside the scoring blocks (:mod:`recsys.evaluation.grid_blocks`),
    one row per (user, point) leaves them, and the sums are exact (fixed point).
    """
    full = tuple(
        grid_blocks.Point(
            None if p[0] is None else float(p[0]),
            float(p[1]),
            *(map(float, p[2:]) if len(p) == 4 else shares(cfg)),
        )
        for p in points
    )
    grid = grid_blocks.Grid(
        full, v.depth, cfg.novelty, cfg.max_per_artist, cfg.cold_slots, v.metric, v.k
    )
    values = grid_blocks.grid_values(v.rows, v.broadcast, grid, v.pool_depth)
    rows = (
        values.join(v.buckets.select(S.USER, _BUCKET), S.USER)
        .groupBy(grid_blocks.POINT, _BUCKET)
        .agg(F.sum(grid_blocks.FIXED).alias("total"))
        .collect()
    )
    out: dict[int, dict[int, tuple[float, int]]] = {
        i: {b: (0.0, n) for b, n in v.counts.items() if n} for i in range(len(points))
    }
    for r in rows:
        b = int(r[_BUCKET])
        out[int(r[grid_blocks.POINT])][b] = (int(r["total"]) / grid_blocks.SCALE, v.counts[b])
    return out


def shares(cfg: HybridConfig) -> tuple[float, float]:
    """The collaborative score's configured (item-based, popularity) shares."""
    return float(cfg.item_weight), float(cfg.popularity_weight)


def share_points(fit, with_items: bool) -> list[tuple[float, float]]:
    """Stage 1's (item weight, popularity weight) pairs: sums of at most 1; without an
    item-based model only item weight 0 (its score is 0 everywhere)."""
    items = [float(w) for w in fit.item_weights] if with_items else [0.0]
    pairs = {
        (wi, float(wp))
        for wi in items
        for wp in fit.popularity_weights
        if wi + float(wp) <= 1.0 + 1e-9
    }
    return sorted(pairs | {(0.0, 0.0)})


def fit_shares(v: Validation, cfg: HybridConfig, with_items: bool):
    """Stage 1: the best (item weight, popularity weight) at alpha 1, and its sweep."""
    pairs = share_points(cfg.fit, with_items)
    means = grid_means(v, [(1.0, 0.0, wi, wp) for wi, wp in pairs], cfg)
    sweep = []
    for i, (wi, wp) in enumerate(pairs):
        total, n = sum(v[0] for v in means[i].values()), sum(v[1] for v in means[i].values())
        sweep.append({"item_weight": wi, "popularity_weight": wp, "value": total / max(n, 1)})
    best = max(
        sweep,
        key=lambda r: (r["value"], -(r["item_weight"] + r["popularity_weight"]), -r["item_weight"]),
    )
    return (best["item_weight"], best["popularity_weight"]), sweep


def activity_buckets(user_stats: DataFrame) -> tuple[DataFrame, list[float]]:
    """Each user's third by songs played (0 lightest) and the median songs played per third."""
    cuts = user_stats.approxQuantile("n_songs", [1 / 3, 2 / 3], 0.0)
    if len(cuts) < 2:  # no users
        return user_stats.select(S.USER, F.lit(0).alias(_BUCKET)), [0.0] * BUCKETS
    third = F.when(F.col("n_songs") <= cuts[0], 0).when(F.col("n_songs") <= cuts[1], 1)
    buckets = user_stats.select(S.USER, "n_songs", third.otherwise(2).alias(_BUCKET)).persist()
    rows = buckets.groupBy(_BUCKET).agg(F.percentile_approx("n_songs", 0.5).alias("m")).collect()
    found = {int(r[_BUCKET]): float(r["m"]) for r in rows}
    return buckets, [found.get(b, 0.0) for b in range(BUCKETS)]


def fit_blend(
    model: HybridRecommender,
    users: DataFrame,
    hidden: DataFrame,
    depth: int,
    gate_metric: str,
) -> dict[str, Any]:
    """Choose the blend on ``users``' ``hidden`` plays; returns the ``blend.json`` document."""
    cfg = model.cfg
    fit = cfg.fit
    metric, k = parse_metric(gate_metric)
    stats = model.user_stats.join(users.select(S.USER).distinct(), S.USER, "left_semi")
    v, medians = validation(model, users, hidden, stats, depth, metric, k)
    points = [(float(a), float(g)) for g in fit.popularity_exponents for a in fit.alphas]
    try:
        with_items = model.itemknn is not None
        (w_item, w_pop), share_sweep = fit_shares(v, cfg, with_items)
        cfg = dataclasses.replace(cfg, item_weight=w_item, popularity_weight=w_pop)
        means = grid_means(v, points, cfg)
        by_bucket = {points[i]: means[i] for i in range(len(points))}
        sweep = []
        for (alpha, gamma), m in by_bucket.items():
            total, n = sum(x[0] for x in m.values()), sum(x[1] for x in m.values())
            sweep.append({"alpha": alpha, "popularity_exponent": gamma, "value": total / max(n, 1)})
        # the best value; ties to the larger alpha, then the smaller exponent
        best = max(sweep, key=lambda r: (r["value"], r["alpha"], -r["popularity_exponent"]))
        n_users = sum(v.counts.values())
        curve_doc = _fit_curve(v, best, by_bucket, medians, cfg)
    finally:
        v.release()
    chosen: dict[str, Any] = {
        "alpha": best["alpha"],
        "popularity_exponent": best["popularity_exponent"],
        "alpha_curve": curve_doc["points"] if curve_doc.get("used") else [],
        "item_weight": w_item,
        "popularity_weight": w_pop,
    }
    return {
        "mode": "fitted",
        "metric": metric_key(metric, k),
        "list_depth": depth,
        "validation_users": n_users,
        "validation_plays": hidden.count(),
        "chosen": chosen,
        "value": curve_doc["value"] if curve_doc.get("used") else best["value"],
        "single_alpha_value": best["value"],
        "curve": curve_doc,
        "sweep": sweep,
        "share_sweep": share_sweep,
        "item_based": with_items,
    }


def _fit_curve(v: Validation, best, by_bucket, medians, cfg: HybridConfig):
    """One alpha per third of the users (at the chosen exponent), scored exactly as a curve."""
    fit = cfg.fit
    if not fit.curve:
        return {"tried": False, "reason": "hybrid.fit.curve is off"}
    gamma = best["popularity_exponent"]
    counts = [x[1] for x in by_bucket[(best["alpha"], gamma)].values()]
    if len(counts) < BUCKETS or min(counts) < MIN_CURVE_USERS:
        return {
            "tried": False,
            "reason": f"a curve needs {MIN_CURVE_USERS}+ validation users in each third of "
            f"users by songs played; the thirds hold {sorted(counts)}",
        }
    alphas = []
    for b in range(BUCKETS):
        scored = [
            (means[b][0] / means[b][1], alpha)
            for (alpha, g), means in by_bucket.items()
            if g == gamma and b in means and means[b][1]
        ]
        alphas.append(max(scored)[1] if scored else best["alpha"])
    points = [[medians[b], alphas[b]] for b in range(BUCKETS)]
    if len(set(alphas)) == 1 or len({m for m, _ in points}) < BUCKETS:
        return {"tried": False, "points": points, "reason": "one alpha suits every third"}
    # each user's alpha on the curve, from their songs played (the pool rows' played list)
    n_songs = F.coalesce(F.size(PLAYED), F.lit(0))
    curved = dataclasses.replace(
        v,
        rows=v.rows.withColumn(S.ALPHA, alpha_column(n_songs, points, best["alpha"]).cast("float")),
    )
    means = grid_means(curved, [(None, gamma)], cfg)[0]
    value = sum(x[0] for x in means.values()) / max(sum(x[1] for x in means.values()), 1)
    return {
        "tried": True,
        "points": points,
        "value": float(value),
        "used": float(value) > best["value"] + 1e-9,
    }


def apply_blend(cfg: HybridConfig, blend: dict[str, Any]) -> HybridConfig:
    """The hybrid config with a ``blend.json``'s chosen values (unchanged in fixed mode)."""
    if blend.get("mode") != "fitted":
        return cfg
    chosen = blend["chosen"]
    return dataclasses.replace(
        cfg,
        alpha=float(chosen["alpha"]),
        popularity_exponent=float(chosen["popularity_exponent"]),
        alpha_curve=[list(p) for p in chosen["alpha_curve"]],
        # blends fitted before the item-based model chose no shares
        item_weight=float(chosen.get("item_weight", 0.0)),
        popularity_weight=float(chosen.get("popularity_weight", 0.0)),
    )


def fixed_blend(cfg: HybridConfig) -> dict[str, Any]:
    """The ``blend.json`` of a run whose blend is configured, not fitted."""
    return {
        "mode": "fixed",
        "chosen": {
            "alpha": cfg.alpha,
            "popularity_exponent": cfg.popularity_exponent,
            "alpha_curve": cfg.alpha_curve,
            "item_weight": cfg.item_weight,
            "popularity_weight": cfg.popularity_weight,
        },
    }
