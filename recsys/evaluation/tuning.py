"""ALS hyper-parameter search: each grid point fitted on the evaluation's own split, scored by
recall@k on the plays it hides (``als.tuning`` in the config)."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from recsys import schemas as S
from recsys.evaluation.metrics import ranking_metrics
from recsys.evaluation.split import holdout_split
from recsys.models.als import AlsRecommender, released_rdds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from recsys.config import AlsConfig


def grid(als_cfg: AlsConfig) -> list[dict[str, Any]]:
    """The tuning grid as ``[{rank, reg_param, alpha}, ...]`` in a fixed order."""
    tuning = als_cfg.tuning
    return [
        {"rank": int(rank), "reg_param": float(reg), "alpha": float(alpha)}
        for rank, reg, alpha in itertools.product(tuning.ranks, tuning.reg_params, tuning.alphas)
    ]


def tune_als(
    interactions: DataFrame, als_cfg: AlsConfig, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Fit every grid point on a validation split and score it by recall@k.

    The split is :func:`recsys.evaluation.split.holdout_split` (the evaluation's own rule)
    with the tuning's fractions and the ALS seed; users with two songs or more can be chosen.
    Returns the table ``{"metric", "k", "settings": [...], "best": {...}}``; each setting
    carries its score and seconds. The best is the highest score, ties to the earlier point.
    """
    spark = interactions.sparkSession
    tuning = als_cfg.tuning
    train, heldout = holdout_split(
        interactions,
        tuning.validation_user_fraction,
        tuning.holdout_play_fraction,
        min_user_songs=2,
        seed=als_cfg.seed,
    )
    metric = f"recall@{tuning.k}"
    settings: list[dict[str, Any]] = []
    try:
        n_heldout = heldout.count()
        n_train = train.count()
        validation_users = heldout.select(S.USER).distinct()
        points = grid(als_cfg)
        for i, point in enumerate(points, 1):
            started = time.perf_counter()
            with released_rdds(spark):
                model = AlsRecommender(dataclasses.replace(als_cfg, **point)).fit(train)
                fit_seconds = time.perf_counter() - started
                recs = model.recommend(validation_users, tuning.k)
                score = ranking_metrics(recs, heldout, [tuning.k])[metric]
            seconds = time.perf_counter() - started
            settings.append(
                {
                    **point,
                    metric: round(score, 6),
                    "fit_seconds": round(fit_seconds, 2),
                    "seconds": round(seconds, 2),
                }
            )
            log(
                f"als tuning {i}/{len(points)}: rank={point['rank']} "
                f"reg_param={point['reg_param']} alpha={point['alpha']} "
                f"{metric}={score:.4f} in {seconds:.1f}s"
            )
    finally:
        train.unpersist()
        heldout.unpersist()
    best = max(settings, key=lambda row: row[metric])  # max keeps the first of equals
    return {
        "metric": metric,
        "k": tuning.k,
        "split": "recsys.evaluation.split.holdout_split",
        "validation_user_fraction": tuning.validation_user_fraction,
        "holdout_play_fraction": tuning.holdout_play_fraction,
        "train_plays": n_train,
        "heldout_plays": n_heldout,
        "settings": settings,
        "best": best,
    }
