"""Implicit-feedback ALS on play counts: confidence, fitting, factor tables, tuning, the step.

Spark's implicit ALS (Hu, Koren, Volinsky 2008) turns each rating ``r`` into a preference
``p = 1`` and a confidence ``c = 1 + alpha * r``. So the play counts are first mapped to a
*preference strength* ``r``; the confidence Spark then uses is:

- ``raw``: ``r = plays`` so ``c = 1 + alpha * plays``;
- ``log``: ``r = log(1 + plays / eps)`` so ``c = 1 + alpha * log(1 + plays / eps)``;
- ``binary``: ``r = 1`` so ``c = 1 + alpha`` for every play.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.similarity import topn

if TYPE_CHECKING:
    from pyspark.ml.recommendation import ALS, ALSModel
    from pyspark.sql import SparkSession

    from recsys.config import AlsConfig

PREFERENCE = "preference"
CONFIDENCE_METHODS = ("raw", "log", "binary")


# ----------------------------------------------------------------------------- confidence


def preference_strength(method: str, eps: float = 1.0) -> Callable[[Column], Column]:
    """The rating handed to Spark's ALS for a play-count column (a float column)."""
    if method not in CONFIDENCE_METHODS:
        raise ValueError(f"confidence {method!r} is not one of: {', '.join(CONFIDENCE_METHODS)}")
    if eps <= 0:
        raise ValueError(f"log eps must be positive, got {eps!r}")

    def strength(plays: Column) -> Column:
        if method == "raw":
            value = plays
        elif method == "log":
            value = F.log1p(plays.cast("double") / F.lit(float(eps)))
        else:
            value = F.lit(1.0)
        return value.cast("float")

    return strength


def confidence(method: str, alpha: float, eps: float = 1.0) -> Callable[[Column], Column]:
    """The confidence ``1 + alpha * strength`` ALS gives a play count (double column)."""
    strength = preference_strength(method, eps)

    def conf(plays: Column) -> Column:
        return F.lit(1.0) + F.lit(float(alpha)) * strength(plays).cast("double")

    return conf


def ratings(interactions: DataFrame, als_cfg: AlsConfig) -> DataFrame:
    """``(user_idx, song_idx, preference)``: the play counts as ALS ratings."""
    strength = preference_strength(als_cfg.confidence, als_cfg.log_eps)
    return interactions.select(
        F.col(S.USER).cast("int").alias(S.USER),
        F.col(S.SONG).cast("int").alias(S.SONG),
        strength(F.col(S.PLAYS)).alias(PREFERENCE),
    )


# ----------------------------------------------------------------------------- fitting


def build_als(als_cfg: AlsConfig) -> ALS:
    """An unfitted Spark ``ALS`` estimator carrying every setting of ``als_cfg``."""
    from pyspark.ml.recommendation import ALS

    return ALS(
        userCol=S.USER,
        itemCol=S.SONG,
        ratingCol=PREFERENCE,
        implicitPrefs=True,
        rank=int(als_cfg.rank),
        regParam=float(als_cfg.reg_param),
        alpha=float(als_cfg.alpha),
        maxIter=als_cfg.max_iter,
        numUserBlocks=als_cfg.num_user_blocks,
        numItemBlocks=als_cfg.num_item_blocks,
        checkpointInterval=als_cfg.checkpoint_interval,
        seed=als_cfg.seed,
        # Per-iteration blocks: recomputing one means replaying iterations, so they may
        # spill to disk but are never dropped. Final factors: read at least twice (written,
        # then scored), so they stay cached until the caller releases them.
        intermediateStorageLevel=als_cfg.intermediate_storage_level,
        finalStorageLevel=als_cfg.final_storage_level,
    )


def fit_als(interactions: DataFrame, als_cfg: AlsConfig) -> ALSModel:
    """Fit implicit ALS on ``interactions (user_idx, song_idx, plays)``.

    ALS reads its input several times and requires it to be the same each time, so the
    ratings are persisted for the fit and released after it (the model's factors are
    materialised at ``final_storage_level`` by then).
    """
    from pyspark import StorageLevel

    prefs = ratings(interactions, als_cfg).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return build_als(als_cfg).fit(prefs)
    finally:
        prefs.unpersist()


def user_factors(model: ALSModel) -> DataFrame:
    """``(user_idx, features array<float>)`` of a fitted model."""
    return model.userFactors.select(
        F.col("id").cast("int").alias(S.USER), F.col("features").cast("array<float>")
    )


def item_factors(model: ALSModel) -> DataFrame:
    """``(song_idx, features array<float>)`` of a fitted model."""
    return model.itemFactors.select(
        F.col("id").cast("int").alias(S.SONG), F.col("features").cast("array<float>")
    )


@contextmanager
def released_rdds(spark: SparkSession) -> Iterator[None]:
    """Unpersist, on exit, every RDD persisted inside the block (ALS's cached factors and
    blocks have no Python handle of their own)."""
    jsc = spark.sparkContext._jsc
    before = set(jsc.getPersistentRDDs().keys())
    try:
        yield
    finally:
        for rdd_id, rdd in jsc.getPersistentRDDs().items():
            if rdd_id not in before:
                rdd.unpersist(False)


# ----------------------------------------------------------------------------- tuning


def split_validation(
    interactions: DataFrame, user_fraction: float, play_fraction: float, seed: int
) -> tuple[DataFrame, DataFrame]:
    """Split into ``(train, heldout)``: a seeded share of users, and of each one's songs.

    A user is a validation user when a seeded hash of its id falls under ``user_fraction``;
    such a user with at least two songs holds out ``max(1, floor(n * play_fraction))`` of
    them (never all), chosen by a seeded hash of (user, song). Hashes, not ``rand``, so the
    split does not depend on partitioning; both halves are persisted all the same — release
    them with ``unpersist``. ``heldout`` is ``(user_idx, song_idx)``.
    """
    seed_col = F.lit(int(seed))
    user_draw = F.pmod(F.xxhash64(F.col(S.USER), seed_col), F.lit(1_000_000)) / 1_000_000.0
    per_user = Window.partitionBy(S.USER)
    in_user_order = per_user.orderBy(F.xxhash64(F.col(S.USER), F.col(S.SONG), seed_col), S.SONG)
    n_songs = F.count(F.lit(1)).over(per_user)
    n_held = F.when(
        n_songs >= 2, F.least(n_songs - 1, F.greatest(F.lit(1), F.floor(n_songs * play_fraction)))
    ).otherwise(0)
    marked = interactions.withColumn(
        "_held", (user_draw < user_fraction) & (F.row_number().over(in_user_order) <= n_held)
    )
    train = marked.where(~F.col("_held")).drop("_held").persist()
    heldout = marked.where(F.col("_held")).select(S.USER, S.SONG).persist()
    return train, heldout


def recall_at_k(top_n: DataFrame, heldout: DataFrame, k: int) -> float:
    """Mean over held-out users of ``|top k ∩ held out| / |held out|``.

    ``top_n`` is ``(user_idx, song_idx, rank)`` with rank 1 first; a held-out user with no
    recommendations counts as 0. Returns 0.0 when nothing is held out.
    """
    hits = (
        top_n.where(F.col(S.RANK) <= k)
        .select(S.USER, S.SONG)
        .join(heldout.select(S.USER, S.SONG), [S.USER, S.SONG])
        .groupBy(S.USER)
        .agg(F.count(F.lit(1)).alias("hits"))
    )
    per_user = (
        heldout.groupBy(S.USER)
        .agg(F.count(F.lit(1)).alias("relevant"))
        .join(hits, S.USER, "left")
        .select((F.coalesce(F.col("hits"), F.lit(0)) / F.col("relevant")).alias("recall"))
    )
    value = per_user.agg(F.avg("recall")).first()[0]
    return float(value) if value is not None else 0.0


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

    Returns the table ``{"metric", "k", "settings": [...], "best": {...}}``; each setting
    carries its score and seconds. The best is the highest score, ties to the earlier point.
    """
    spark = interactions.sparkSession
    tuning = als_cfg.tuning
    train, heldout = split_validation(
        interactions, tuning.validation_user_fraction, tuning.holdout_play_fraction, als_cfg.seed
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
                model = fit_als(train, dataclasses.replace(als_cfg, **point))
                fit_seconds = time.perf_counter() - started
                users = user_factors(model).join(validation_users, S.USER, "left_semi")
                recs = topn.recommend_top_n(
                    users,
                    item_factors(model),
                    train,
                    tuning.k,
                    block_size=als_cfg.block_size,
                    block_memory_mb=als_cfg.block_memory_mb,
                    partitions=als_cfg.score_partitions,
                )
                score = recall_at_k(recs, heldout, tuning.k)
            seconds = time.perf_counter() - started
            row = {
                **point,
                metric: round(score, 6),
                "fit_seconds": round(fit_seconds, 2),
                "seconds": round(seconds, 2),
            }
            settings.append(row)
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
        "validation_user_fraction": tuning.validation_user_fraction,
        "holdout_play_fraction": tuning.holdout_play_fraction,
        "train_plays": n_train,
        "heldout_plays": n_heldout,
        "settings": settings,
        "best": best,
    }


# ----------------------------------------------------------------------------- the step


def als_params(als_cfg: AlsConfig) -> dict[str, Any]:
    """The settings a model was fitted with, as written to ``als_params.json``."""
    params = dataclasses.asdict(als_cfg)
    params.pop("tuning")
    params["implicit_prefs"] = True
    return params


def neighbours_from_factors(item_factors: DataFrame, als_cfg: AlsConfig) -> DataFrame:
    """``cf_neighbours`` of an item factor table, by ``als_cfg.neighbours_method``."""
    return topn.cf_neighbours(
        item_factors,
        als_cfg.neighbours_k,
        als_cfg.neighbours_method,
        block_size=als_cfg.block_size,
        block_memory_mb=als_cfg.block_memory_mb,
        partitions=als_cfg.score_partitions,
        bucket_length=als_cfg.lsh_bucket_length,
        num_hash_tables=als_cfg.lsh_num_hash_tables,
        hashes_per_table=als_cfg.lsh_hashes_per_table,
        max_candidates=als_cfg.lsh_max_candidates,
        min_similarity=als_cfg.lsh_min_similarity,
        seed=als_cfg.seed,
    )
