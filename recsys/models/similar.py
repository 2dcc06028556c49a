"""Song-to-song lists and reason sentences of the hybrid tables (``similar_songs``, reasons)."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S


def with_reasons(recs: DataFrame, songs: DataFrame) -> DataFrame:
    """A sentence per row: the played song that led to it, or the collaborative signal."""
    names = songs.select(
        F.col(S.SONG).alias(S.REASON_SONG),
        F.concat_ws(" - ", F.coalesce(S.ARTIST, F.lit("?")), F.coalesce(S.TITLE, F.lit("?"))).alias(
            "_name"
        ),
    )
    return recs.join(F.broadcast(names), S.REASON_SONG, "left").withColumn(
        S.REASON,
        F.when(
            F.col("_name").isNotNull(), F.concat(F.lit("because you played "), F.col("_name"))
        ).otherwise(F.lit("listeners with your taste play it")),
    )


def similar_songs(
    songs: DataFrame,
    cf_neighbours: DataFrame | None,
    content_neighbours: DataFrame,
    k: int,
    alpha: float,
    coplay_neighbours: DataFrame | None = None,
    coplay_weight: float = 0.5,
) -> DataFrame:
    """Per song the top ``k`` by ``alpha * collaborative + (1 - alpha) * content``.

    ``collaborative`` is the ALS cosine (clipped at 0) or, with ``coplay_neighbours``,
    ``(1 - coplay_weight) * ALS + coplay_weight * co-play`` where the co-play similarity is
    divided by the song's strongest one (so its best co-played song scores 1: "listeners of X
    also played"). ``source`` names the lists a row came from, joined by ``+`` in the order cf,
    coplay, content (``both`` for cf and content, as before co-plays).
    """
    # One shuffle: the lists' rows (one per song and neighbour: songs x k each, bounded by the
    # catalogue) are hash-partitioned by song, and the merge by pair, the co-play
    # normalisation and the ranking all run inside those partitions (a full outer join per
    # list, then a window, shuffled every list again).
    names = ("cf_sim", "coplay_sim", "content_sim")
    lists = dict(zip(names, (cf_neighbours, coplay_neighbours, content_neighbours), strict=True))
    parts = [
        table.select(
            S.SONG,
            F.col(S.NEIGHBOUR).alias(S.SIMILAR),
            *[
                (F.col(S.SIMILARITY) if n == name else F.lit(None).cast("float")).alias(n)
                for n in names
            ],
        )
        for name, table in lists.items()
        if table is not None
    ]
    merged = reduce(DataFrame.unionByName, parts).repartition(S.SONG)
    both = merged.groupBy(S.SONG, S.SIMILAR).agg(*[F.max(n).alias(n) for n in names])
    if coplay_neighbours is not None:
        top = F.max("coplay_sim").over(Window.partitionBy(S.SONG))
        both = both.withColumn(
            "coplay_sim",
            F.when(F.col("coplay_sim").isNull(), F.lit(None)).otherwise(
                F.when(top > 0, F.col("coplay_sim") / top).otherwise(F.lit(0.0))
            ),
        )
    cf_s = F.greatest(F.coalesce("cf_sim", F.lit(0.0)), F.lit(0.0))
    if coplay_neighbours is not None:
        co_s = F.coalesce("coplay_sim", F.lit(0.0))
        cf_s = F.lit(1.0 - coplay_weight) * cf_s + F.lit(coplay_weight) * co_s
    ct_s = F.greatest(F.coalesce("content_sim", F.lit(0.0)), F.lit(0.0))
    source = F.concat_ws(
        "+",
        F.when(F.col("cf_sim").isNotNull(), F.lit("cf")),
        F.when(F.col("coplay_sim").isNotNull(), F.lit("coplay")),
        F.when(F.col("content_sim").isNotNull(), F.lit("content")),
    )
    source = F.when(source == "cf+content", F.lit("both")).otherwise(source)
    scored = both.select(
        S.SONG,
        S.SIMILAR,
        cf_s.alias(S.CF_SCORE),
        ct_s.alias(S.CONTENT_SCORE),
        (F.lit(alpha) * cf_s + F.lit(1.0 - alpha) * ct_s).alias(S.SCORE),
        source.alias(S.SOURCE),
    )
    w = Window.partitionBy(S.SONG).orderBy(F.col(S.SCORE).desc(), F.col(S.SIMILAR).asc())
    ranked = scored.withColumn(S.RANK, F.row_number().over(w)).filter(F.col(S.RANK) <= k)
    cold = songs.select(S.SONG, (F.col("n_listeners") == 0).alias(S.IS_COLD))
    return S.to_schema(ranked.join(cold, S.SONG), S.SIMILAR_SONGS_SCHEMA)
