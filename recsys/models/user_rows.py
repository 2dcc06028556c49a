"""The users' rows the hybrid's pool is scored from (:mod:`recsys.models.pool`): per user, the
played songs, the seeds with their weights, the ALS list, an item-based list when one is given
as a table (the hybrid's own are scored in the blocks), the user's factors and alpha, built
from one shuffle of the inputs by user."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.models.pool import (
    CF_SCORES,
    CF_SONGS,
    ITEM_SCORES,
    ITEM_SONGS,
    PLAYED,
    SEEDS,
    UF,
    WEIGHTS,
)
from recsys.similarity.topn import partition_keys, scoring_partitions

_TAG, _VALUE, _KEY_COL = "_t", "_v", "_k"
PLAYS_TAG, CF_TAG, ITEM_TAG, FACTORS_TAG, ALPHA_TAG = range(5)  # the user's input rows


def _tagged(frame: DataFrame, tag: int, song=None, value=None, factors=None, alpha=None):
    """``frame``'s rows in the one shape every input of :func:`pool_rows` takes."""

    def col(c, kind: str):
        return (F.lit(None) if c is None else F.col(c)).cast(kind)

    return frame.select(
        F.col(S.USER).cast("int").alias(S.USER),
        F.lit(tag).alias(_TAG),
        col(song, "int").alias(S.SONG),
        col(value, "double").alias(_VALUE),
        col(factors, "array<float>").alias(UF),
        col(alpha, "float").alias(S.ALPHA),
    )


def ranged_key(users: DataFrame, parts: int) -> Column:
    """A key column whose hash partitioning into ``parts`` puts contiguous ranges of
    ``user_idx`` in partition order (the ``k``-th ``1/parts`` of ``users``' id range into
    partition ``k``), as ``repartitionByRange`` would, without its sampling pass over the
    input. Ids above ``users``' go to the last partition."""
    top = users.agg(F.max(S.USER)).first()[0]  # one int column scanned, one value back
    width = (int(top or 0) // parts) + 1
    keys = partition_keys(users.sparkSession, parts)
    bucket = F.least((F.col(S.USER) / F.lit(width)).cast("int"), F.lit(parts - 1))
    return F.element_at(F.array(*[F.lit(k) for k in keys]), bucket + 1)


def pool_rows(
    interactions: DataFrame,
    user_alpha: DataFrame,
    cf_topn: DataFrame,
    item_topn: DataFrame | None,
    user_factors: DataFrame | None,
    seeds_per_user: int,
    ranged: bool = False,
) -> DataFrame:
    """One row per user of ``user_alpha``: alpha, played songs, seeds and weights, the ALS
    list, the item-based list (scores > 0), the user's factors (null where a user has none).

    Every input is brought to one row shape, and the union is shuffled once, by user, and
    grouped where it lands: one exchange of the inputs' rows, no join. With ``ranged`` each
    partition holds one contiguous range of users in partition order (:func:`ranged_key`),
    so what is scored from the rows comes out clustered by user. Users outside
    ``user_alpha`` get no row, as the pool's inner join with alpha drops them."""
    spark = interactions.sparkSession
    parts = scoring_partitions(spark)
    inputs = [
        _tagged(interactions, PLAYS_TAG, S.SONG, S.PLAYS),
        # no score is no evidence (never a NaN)
        _tagged(cf_topn.where(F.col(S.SCORE).isNotNull()), CF_TAG, S.SONG, S.SCORE),
        _tagged(user_alpha, ALPHA_TAG, alpha=S.ALPHA),
    ]
    if item_topn is not None:
        inputs.append(_tagged(item_topn.where(F.col(S.SCORE) > 0), ITEM_TAG, S.SONG, S.SCORE))
    if user_factors is not None:
        inputs.append(_tagged(user_factors, FACTORS_TAG, factors=S.FEATURES))
    rows = inputs[0]
    for more in inputs[1:]:
        rows = rows.unionByName(more)
    if ranged:
        keys = [_KEY_COL, S.USER]
        rows = rows.withColumn(_KEY_COL, ranged_key(interactions, parts))
    else:
        keys = [S.USER]
    rows = rows.repartition(parts, keys[0])

    def listed(tag: int, value: Column) -> Column:  # one input's (value, song) structs
        return F.collect_list(F.when(F.col(_TAG) == tag, F.struct(value.alias(_VALUE), S.SONG)))

    # seeds: the most played songs first, ties to the smaller song id (structs sort by field)
    by_plays = F.array_sort(listed(PLAYS_TAG, -F.col(_VALUE)))
    seeds = F.slice(by_plays, 1, seeds_per_user)
    grouped = rows.groupBy(*keys).agg(
        F.collect_list(F.when(F.col(_TAG) == PLAYS_TAG, F.col(S.SONG))).alias(PLAYED),
        seeds.alias("_s"),
        listed(CF_TAG, F.col(_VALUE).cast("float")).alias("_c"),
        listed(ITEM_TAG, F.col(_VALUE).cast("float")).alias("_i"),
        F.first(UF, ignorenulls=True).alias(UF),
        F.first(S.ALPHA, ignorenulls=True).alias(S.ALPHA),
        F.max(F.col(_TAG) == ALPHA_TAG).alias("_user"),
    )
    return grouped.where("_user").select(
        S.USER,
        S.ALPHA,
        PLAYED,
        F.transform("_s", lambda s: s[S.SONG]).alias(SEEDS),
        F.transform("_s", lambda s: F.log1p(-s[_VALUE])).alias(WEIGHTS),
        F.transform("_c", lambda s: s[S.SONG]).alias(CF_SONGS),
        F.transform("_c", lambda s: s[_VALUE]).alias(CF_SCORES),
        F.transform("_i", lambda s: s[S.SONG]).alias(ITEM_SONGS),
        F.transform("_i", lambda s: s[_VALUE]).alias(ITEM_SCORES),
        UF,
    )
