"""The co-play neighbours as Spark rows (one row per user and pair, exploded and counted), as
:mod:`recsys.similarity.coplay` computed them before its blocked sparse products: the
reference the blocked version is compared with (tests/unit/test_coplay_blocks.py)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.similarity.coplay import (
    CO_PLAYS,
    LISTENERS,
    capped_lists,
    co_play_pairs,
    listeners,
)

_NBR_LISTENERS = "_neighbour_listeners"


def similarities(
    counts: DataFrame, song_listeners: DataFrame, asymmetry: float, locality: float
) -> DataFrame:
    """``(song_idx, neighbour_idx, similarity float)`` in both directions from the counted
    pairs (``song_idx < neighbour_idx``, ``co_plays``): ``(c_ij / (n_i^a n_j^(1-a)))^q``.

    ``song_listeners`` (catalogue-sized) is broadcast into two joins. Computed in double and
    rounded to float once, so equal similarities are equal floats and the ranking below sees
    the values that are written.
    """
    song_side = F.broadcast(song_listeners)
    nbr_side = F.broadcast(
        song_listeners.select(
            F.col(S.SONG).alias(S.NEIGHBOUR), F.col(LISTENERS).alias(_NBR_LISTENERS)
        )
    )
    pairs = counts.join(song_side, S.SONG).join(nbr_side, S.NEIGHBOUR)
    a, q = float(asymmetry), float(locality)

    def sim(n_i: str, n_j: str) -> Column:
        cosine = F.col(CO_PLAYS) / (
            F.pow(F.col(n_i).cast("double"), F.lit(a))
            * F.pow(F.col(n_j).cast("double"), F.lit(1.0 - a))
        )
        return F.pow(cosine, F.lit(q)).cast("float")

    both = F.array(
        F.struct(
            F.col(S.SONG).alias(S.SONG),
            F.col(S.NEIGHBOUR).alias(S.NEIGHBOUR),
            sim(LISTENERS, _NBR_LISTENERS).alias(S.SIMILARITY),
        ),
        F.struct(
            F.col(S.NEIGHBOUR).alias(S.SONG),
            F.col(S.SONG).alias(S.NEIGHBOUR),
            sim(_NBR_LISTENERS, LISTENERS).alias(S.SIMILARITY),
        ),
    )
    return pairs.select(F.explode(both).alias("_pair")).select("_pair.*")


def top_k(scored: DataFrame, k: int) -> DataFrame:
    """Each song's ``k`` most similar neighbours (ties to the smaller id), ranked from 1."""
    best_first = Window.partitionBy(S.SONG).orderBy(F.desc(S.SIMILARITY), F.asc(S.NEIGHBOUR))
    ranked = scored.withColumn(S.RANK, F.row_number().over(best_first)).where(F.col(S.RANK) <= k)
    return S.to_schema(
        ranked.select(S.SONG, S.NEIGHBOUR, S.SIMILARITY, S.RANK), S.NEIGHBOURS_SCHEMA
    )


def coplay_neighbours(
    interactions: DataFrame,
    k: int,
    *,
    asymmetry: float = 0.5,
    locality: float = 1.0,
    max_songs_per_user: int = 500,
    seed: int = 42,
) -> DataFrame:
    """Each song's ``k`` nearest songs by co-plays, every pair a Spark row."""
    lists = capped_lists(interactions, max_songs_per_user, seed)
    counts = co_play_pairs(lists).groupBy(S.SONG, S.NEIGHBOUR).agg(F.count("*").alias(CO_PLAYS))
    return top_k(similarities(counts, listeners(lists), asymmetry, locality), k)
