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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import ModelError
from recsys.models.base import Recommender, check_n
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


class AlsRecommender(Recommender):
    """Implicit ALS as a recommender: top-N by factor dot product, neighbours by cosine.

    ``fit`` trains ALS (``als.solver``); :meth:`from_factors` rebuilds a fitted model from its
    factor tables (what train-als wrote), optionally with lists it already computed (``top_n``: a
    ``cf_user_topn`` table; ``neighbours``: a ``cf_neighbours`` table), which are then served
    instead of being scored again when they are deep enough. Scoring uses the configured
    blocks and partitions (``als.block_size``, ``block_memory_mb``, ``score_partitions``).
    """

    name = "als"

    def __init__(self, als_cfg: AlsConfig) -> None:
        self.cfg = als_cfg
        self.model: ALSModel | None = None
        self.user_factors: DataFrame | None = None
        self.item_factors: DataFrame | None = None
        self._top_n: DataFrame | None = None
        self._top_n_depth = 0
        self._neighbours: DataFrame | None = None
        self._neighbours_k = 0

    def fit(self, interactions: DataFrame) -> AlsRecommender:
        """Fit with ``als.solver``: ``blocks`` (:mod:`recsys.models.block_als`; no Spark
        ``ALSModel``, ``model`` stays None) or ``spark`` (Spark ML's ALS)."""
        self._interactions = interactions
        self._top_n = self._neighbours = None
        if self.cfg.solver == "blocks":
            from recsys.models import block_als

            self.model = None
            self.user_factors, self.item_factors = block_als.fit(
                ratings(interactions, self.cfg), self.cfg
            )
            return self
        self.model = fit_als(interactions, self.cfg)
        self.user_factors = user_factors(self.model)
        self.item_factors = item_factors(self.model)
        return self

    @classmethod
    def from_factors(
        cls,
        als_cfg: AlsConfig,
        interactions: DataFrame,
        user_factors: DataFrame,
        item_factors: DataFrame,
        *,
        top_n: DataFrame | None = None,
        top_n_depth: int | None = None,
        neighbours: DataFrame | None = None,
    ) -> AlsRecommender:
        """A fitted model from factor tables and, optionally, lists computed from them
        (``top_n`` as deep as ``top_n_depth``, by default ``als.top_n``; ``neighbours``
        ``als.neighbours_k`` deep)."""
        model = cls(als_cfg)
        model._interactions = interactions
        model.user_factors, model.item_factors = user_factors, item_factors
        if top_n is not None:
            model._top_n, model._top_n_depth = top_n, top_n_depth or als_cfg.top_n
        if neighbours is not None:
            model._neighbours = neighbours
            model._neighbours_k = als_cfg.neighbours_k
        return model

    def recommend(self, users: DataFrame | None, n: int) -> DataFrame:
        check_n(n)
        if self._top_n is not None and n <= self._top_n_depth:
            lists = self._top_n.where(F.col(S.RANK) <= n)
            return lists if users is None else lists.join(users.select(S.USER), S.USER, "left_semi")
        factors = self._factors()[0]
        if users is not None:
            factors = factors.join(users.select(S.USER).distinct(), S.USER, "left_semi")
        return topn.recommend_top_n(
            factors,
            self.item_factors,
            self.interactions,
            n,
            block_size=self.cfg.block_size,
            block_memory_mb=self.cfg.block_memory_mb,
            partitions=self.cfg.score_partitions,
        )

    def similar_items(self, k: int) -> DataFrame:
        check_n(k, "k")
        if self._neighbours is not None and k <= self._neighbours_k:
            return self._neighbours.where(F.col(S.RANK) <= k)
        return neighbours_from_factors(
            self._factors()[1], dataclasses.replace(self.cfg, neighbours_k=k)
        )

    def _factors(self) -> tuple[DataFrame, DataFrame]:
        if self.user_factors is None or self.item_factors is None:
            raise ModelError("AlsRecommender is not fitted: call fit(interactions)")
        return self.user_factors, self.item_factors
