"""Candidate songs for a user from the neighbours of what they played (content and item-based).

A user's seeds are their most played songs; a candidate is a neighbour of a seed the user has
not played, scored by ``similarity * log(1 + plays of the seed)`` summed over the seeds, with
the seed that contributed most kept as the reason.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S

SEED = "seed_idx"


KIND = "kind"
COPLAY = "coplay"


def seeds(interactions: DataFrame, per_user: int) -> DataFrame:
    """Each user's most played songs (user_idx, seed_idx, weight), weight = log(1 + plays)."""
    w = Window.partitionBy(S.USER).orderBy(F.col(S.PLAYS).desc(), F.col(S.SONG).asc())
    return (
        interactions.withColumn("_r", F.row_number().over(w))
        .filter(F.col("_r") <= per_user)
        .select(S.USER, F.col(S.SONG).alias(SEED), F.log1p(S.PLAYS).alias("weight"))
    )


def neighbour_relation(
    cf_neighbours: DataFrame | None,
    content_neighbours: DataFrame,
    coplay_neighbours: DataFrame | None = None,
) -> DataFrame:
    """(seed_idx, song_idx, similarity, kind) from the neighbour tables (kind ``cf``,
    ``content`` or ``coplay``)."""
    rel = content_neighbours.select(
        F.col(S.SONG).alias(SEED),
        F.col(S.NEIGHBOUR).alias(S.SONG),
        S.SIMILARITY,
        F.lit("content").alias(KIND),
    )
    for kind, table in (("cf", cf_neighbours), (COPLAY, coplay_neighbours)):
        if table is not None:
            rel = rel.unionByName(
                table.select(
                    F.col(S.SONG).alias(SEED),
                    F.col(S.NEIGHBOUR).alias(S.SONG),
                    S.SIMILARITY,
                    F.lit(kind).alias(KIND),
                )
            )
    return rel


def seed_hits(interactions: DataFrame, relation: DataFrame, seeds_per_user: int) -> DataFrame:
    """Songs near what each user played: (user_idx, song_idx, content_raw, reason_song_idx).

    ``content_raw`` sums ``similarity * weight`` over the user's seed songs' content
    neighbours (null when only collaborative neighbours reach the song); the reason is the
    seed that contributed most through an ALS or content neighbour, else through a co-play
    neighbour (so adding the item-based model names a reason where there was none, and changes
    no other). Played songs are excluded.
    """
    hits = seeds(interactions, seeds_per_user).join(relation, SEED)
    played = interactions.select(S.USER, S.SONG)
    hits = hits.join(played, [S.USER, S.SONG], "left_anti")
    contribution = F.col(S.SIMILARITY) * F.col("weight")
    best = F.struct(contribution.alias("c"), (-F.col(SEED)).alias("s"), F.col(SEED).alias("v"))
    coplay = F.col(KIND) == COPLAY
    return hits.groupBy(S.USER, S.SONG).agg(
        F.sum(F.when(F.col(KIND) == "content", contribution)).alias("content_raw"),
        F.coalesce(
            F.max(F.when(~coplay, best)).getField("v"), F.max(F.when(coplay, best)).getField("v")
        ).alias(S.REASON_SONG),
    )


def top_per_user(df: DataFrame, score: str, depth: int, rank_col: str | None = None) -> DataFrame:
    """The ``depth`` highest ``score`` rows per user (ties by song id), ranked in ``rank_col``
    when one is named."""
    w = Window.partitionBy(S.USER).orderBy(F.col(score).desc(), F.col(S.SONG).asc())
    ranked = df.withColumn(rank_col or "_r", F.row_number().over(w))
    ranked = ranked.filter(F.col(rank_col or "_r") <= depth)
    return ranked if rank_col else ranked.drop("_r")
