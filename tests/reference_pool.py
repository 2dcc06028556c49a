"""The hybrid pool as it was computed before recsys.models.pool: row by row in Spark joins
(seeds x neighbours rows, shuffled). Kept as the reference the blocked pool must equal."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.columns import dot, sum_arrays
from recsys.models.candidates import SEED, seed_hits, seeds, top_per_user
from recsys.models.hybrid import Signals, alpha_column, popularity


def minmax_per(group: str, value: str) -> Column:
    """``value`` rescaled to [0, 1] within each ``group`` (1.0 where all values are equal)."""
    w = Window.partitionBy(group)
    lo, hi = F.min(value).over(w), F.max(value).over(w)
    return F.when(hi > lo, (F.col(value) - lo) / (hi - lo)).otherwise(F.lit(1.0))


def user_profiles(interactions: DataFrame, vectors: DataFrame, seeds_per_user: int) -> DataFrame:
    """(user_idx, profile): the play-weighted sum of the user's seed songs' content vectors."""
    seeded = seeds(interactions, seeds_per_user).join(
        vectors.select(F.col(S.SONG).alias(SEED), F.col(S.FEATURES).alias("_v")), SEED
    )
    weighted = F.transform("_v", lambda x: x.cast("double") * F.col("weight"))
    total = sum_arrays(F.collect_list(weighted))
    return seeded.groupBy(S.USER).agg(total.alias("profile"))


def rescore(
    pool: DataFrame, interactions: DataFrame, signals: Signals, seeds_per_user: int
) -> DataFrame:
    """Replace ``cf_raw`` and ``content_raw`` of every pool row with both models' scores."""
    profiles = user_profiles(interactions, signals.content_vectors, seeds_per_user)
    uf = signals.user_factors.select(S.USER, F.col(S.FEATURES).alias("_uf"))
    itf = signals.item_factors.select(S.SONG, F.col(S.FEATURES).alias("_if"))
    cv = signals.content_vectors.select(S.SONG, F.col(S.FEATURES).alias("_cv"))
    joined = (
        pool.drop("cf_raw", "content_raw")
        .join(uf, S.USER, "left")
        .join(profiles, S.USER, "left")
        .join(itf, S.SONG, "left")
        .join(cv, S.SONG, "left")
    )
    has_cf = F.col("_uf").isNotNull() & F.col("_if").isNotNull()
    has_content = F.col("profile").isNotNull() & F.col("_cv").isNotNull()
    return joined.select(
        *[c for c in pool.columns if c not in ("cf_raw", "content_raw")],
        F.when(has_cf, dot(F.col("_uf"), F.col("_if"))).alias("cf_raw"),
        F.when(has_content, dot(F.col("profile"), F.col("_cv"))).alias("content_raw"),
    )


def user_candidates(
    interactions: DataFrame,
    users: DataFrame,
    songs: DataFrame,
    cf_topn: DataFrame,
    relation: DataFrame,
    cfg,
    content_depth: int,
    signals: Signals | None = None,
    item_topn: DataFrame | None = None,
    cached: list[DataFrame] | None = None,
) -> DataFrame:
    """The candidate pool with normalised component scores, alpha, popularity and reason.

    The seeds' neighbour hits are persisted (the pool reads them twice) and appended to
    ``cached``, for the caller to release once the pool is written.

    The pool is each user's collaborative top-N plus the ``content_depth`` songs nearest to
    what they played, plus the item-based model's list (``item_topn``, when given). With
    ``signals`` every pooled song is scored by ALS and content; without, each keeps only the
    score of the list that proposed it (the other counts 0). The item-based score is its own
    list's, min-max normalised: a song beyond that list counts 0, as the list's last does.
    """
    hits = seed_hits(interactions, relation, cfg.seeds_per_user).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    if cached is not None:
        cached.append(hits)
    content = top_per_user(
        hits.filter(F.col("content_raw").isNotNull()), "content_raw", content_depth
    )
    cf = cf_topn.select(S.USER, S.SONG, F.col(S.SCORE).alias("cf_raw"))
    pool = cf.join(content.drop(S.REASON_SONG), [S.USER, S.SONG], "full_outer")
    if item_topn is not None:
        item = item_topn.where(F.col(S.SCORE) > 0).select(
            S.USER, S.SONG, F.col(S.SCORE).alias("item_raw")
        )
        pool = pool.join(item, [S.USER, S.SONG], "full_outer")
    else:
        pool = pool.withColumn("item_raw", F.lit(None).cast("float"))
    pool = pool.join(hits.select(S.USER, S.SONG, S.REASON_SONG), [S.USER, S.SONG], "left")
    if signals is not None:
        pool = rescore(pool, interactions, signals, cfg.seeds_per_user)
    pool = (
        pool.withColumn(
            S.CF_SCORE,
            F.when(F.col("cf_raw").isNull(), 0.0).otherwise(minmax_per(S.USER, "cf_raw")),
        )
        .withColumn(
            S.CONTENT_SCORE,
            F.when(F.col("content_raw").isNull(), 0.0).otherwise(minmax_per(S.USER, "content_raw")),
        )
        .withColumn(
            S.ITEM_SCORE,
            F.when(F.col("item_raw").isNull(), 0.0).otherwise(minmax_per(S.USER, "item_raw")),
        )
    )
    user_alpha = users.select(
        S.USER, alpha_column(F.col("n_songs"), cfg.alpha_curve, cfg.alpha).alias(S.ALPHA)
    )
    song_info = popularity(songs).join(songs.select(S.SONG, S.ARTIST), S.SONG)
    return (
        pool.join(user_alpha, S.USER)
        .join(song_info, S.SONG)
        .select(
            S.USER,
            S.SONG,
            F.col(S.CF_SCORE).cast("float").alias(S.CF_SCORE),
            F.col(S.CONTENT_SCORE).cast("float").alias(S.CONTENT_SCORE),
            F.col(S.ITEM_SCORE).cast("float").alias(S.ITEM_SCORE),
            S.POPULARITY,
            F.col(S.ALPHA).cast("float").alias(S.ALPHA),
            S.ARTIST,
            S.REASON_SONG,
        )
    )
