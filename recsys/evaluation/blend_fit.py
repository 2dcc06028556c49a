"""Fitting the hybrid's blend to the run's own plays (``hybrid.fit``, mode ``fitted``).

Validation users (never the evaluation's held-out users) hide a share of their plays; one ALS
refit (and one item-based refit) sees neither. The hybrid's candidate pool for the validation
users does not depend on the blend, so it is built once; each grid point ranks it with the
production rules and is scored by the publish gate metric on the hidden plays, in two stages:

1. the collaborative score's shares (item-based weight x popularity weight, ALS the rest) at
   alpha 1 (content left out); ties go to the smaller shares, so where neither adds anything
   the collaborative score is ALS's;
2. alpha x popularity exponent with those shares; ties go to the larger alpha (more
   collaborative), then the smaller exponent, so when content adds nothing the chosen blend
   is the collaborative list.
 Where ``fit.curve`` is on,
one alpha per third of the validation users by songs played is tried as an alpha curve (with
at least ``MIN_CURVE_USERS`` users in each third), and kept only if it scores higher than the
single alpha.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import EvaluationError
from recsys.evaluation.checks import metric_key
from recsys.evaluation.metrics import per_user_ranking_metrics
from recsys.models.hybrid import alpha_column, rank_candidates

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from recsys.config import HybridConfig
    from recsys.models.hybrid import HybridRecommender

_BUCKET = "_bucket"
_KEY = "_user_point"
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


def grid_means(
    pool: DataFrame,
    hidden: DataFrame,
    buckets: DataFrame,
    points: list[tuple[float, ...]],
    cfg: HybridConfig,
    depth: int,
    column: str,
    k: int,
) -> dict[int, dict[int, tuple[float, int]]]:
    """``{point: {bucket: (sum of the metric, users)}}`` for every grid point.

    A point is ``(alpha, exponent)`` with the config's collaborative shares, or ``(alpha,
    exponent, item_weight, popularity_weight)``. The pool is ranked once for all points (each
    user's list per point, the point's values as columns), and the lists are scored in one
    pass, keyed by user and point.
    """
    spark = pool.sparkSession
    n = len(points)
    full = [
        (float(p[0]), float(p[1]), *(map(float, p[2:]) if len(p) == 4 else shares(cfg)))
        for p in points
    ]
    grid = spark.createDataFrame(
        [(i, *p) for i, p in enumerate(full)],
        "_point int, _alpha double, _gamma double, _w_item double, _w_pop double",
    )
    ranked = rank_candidates(
        pool.crossJoin(F.broadcast(grid)),
        cfg.novelty,
        cfg.max_per_artist,
        depth,
        F.col("_alpha"),
        F.col("_gamma"),
        cfg.cold_slots,
        group_cols=("_point",),
        item_weight=F.col("_w_item"),
        popularity_weight=F.col("_w_pop"),
    )
    key = (F.col(S.USER).cast("long") * n + F.col("_point")).alias(_KEY)
    lists = ranked.select(key, S.SONG, S.RANK)
    relevant = hidden.crossJoin(F.broadcast(grid.select("_point"))).select(key, S.SONG)
    per_user = per_user_ranking_metrics(lists, relevant, [k], user_col=_KEY)
    rows = (
        per_user.select(
            (F.col(_KEY) % n).cast("int").alias("_point"),
            (F.col(_KEY) / n).cast("long").cast("int").alias(S.USER),
            column,
        )
        .join(buckets, S.USER)
        .groupBy("_point", _BUCKET)
        .agg(F.sum(column).alias("total"), F.count(F.lit(1)).alias("n"))
        .collect()
    )
    out: dict[int, dict[int, tuple[float, int]]] = {i: {} for i in range(n)}
    for r in rows:
        out[int(r["_point"])][int(r[_BUCKET])] = (float(r["total"]), int(r["n"]))
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


def fit_shares(pool, hidden, buckets, cfg, depth, column, k, with_items: bool):
    """Stage 1: the best (item weight, popularity weight) at alpha 1, and its sweep."""
    pairs = share_points(cfg.fit, with_items)
    means = grid_means(
        pool, hidden, buckets, [(1.0, 0.0, wi, wp) for wi, wp in pairs], cfg, depth, column, k
    )
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
    column = f"{metric}_at_{k}"
    pool = model.candidates(users, depth).persist(StorageLevel.MEMORY_AND_DISK)
    stats = model.user_stats.join(users.select(S.USER).distinct(), S.USER, "left_semi")
    buckets, medians = activity_buckets(stats)
    points = [(float(a), float(g)) for g in fit.popularity_exponents for a in fit.alphas]
    try:
        with_items = model.itemknn is not None
        (w_item, w_pop), share_sweep = fit_shares(
            pool, hidden, buckets, cfg, depth, column, k, with_items
        )
        cfg = dataclasses.replace(cfg, item_weight=w_item, popularity_weight=w_pop)
        means = grid_means(pool, hidden, buckets, points, cfg, depth, column, k)
        by_bucket = {points[i]: means[i] for i in range(len(points))}
        sweep = []
        for (alpha, gamma), m in by_bucket.items():
            total, n = sum(v[0] for v in m.values()), sum(v[1] for v in m.values())
            sweep.append({"alpha": alpha, "popularity_exponent": gamma, "value": total / max(n, 1)})
        # the best value; ties to the larger alpha, then the smaller exponent
        best = max(sweep, key=lambda r: (r["value"], r["alpha"], -r["popularity_exponent"]))
        n_users = sum(
            v[1] for v in by_bucket[(best["alpha"], best["popularity_exponent"])].values()
        )
        curve_doc = _fit_curve(pool, stats, hidden, best, by_bucket, medians, cfg, depth, column, k)
    finally:
        pool.unpersist()
        buckets.unpersist()
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


def _fit_curve(pool, stats, hidden, best, by_bucket, medians, cfg, depth, column, k):
    """One alpha per third of the users (at the chosen exponent), scored exactly as a curve."""
    fit = cfg.fit
    if not fit.curve:
        return {"tried": False, "reason": "hybrid.fit.curve is off"}
    gamma = best["popularity_exponent"]
    counts = [v[1] for v in by_bucket[(best["alpha"], gamma)].values()]
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
    curved = pool.drop(S.ALPHA).join(
        stats.select(S.USER, alpha_column(F.col("n_songs"), points, best["alpha"]).alias(S.ALPHA)),
        S.USER,
    )
    ranked = rank_candidates(
        curved,
        cfg.novelty,
        cfg.max_per_artist,
        depth,
        None,
        gamma,
        cfg.cold_slots,
        item_weight=cfg.item_weight,
        popularity_weight=cfg.popularity_weight,
    )
    value = per_user_ranking_metrics(ranked, hidden, [k]).agg(F.avg(column)).first()[0] or 0.0
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
