"""Spark schemas of the warehouse tables, built from the names in :mod:`recsys.names`.

The names are re-exported here, so library code reads ``S.USER`` and ``S.TOPN_SCHEMA`` from one
module; code that must run without pyspark (the viewer) imports :mod:`recsys.names`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys.names import *  # the names are this module's vocabulary too

INTERACTIONS_SCHEMA = T.StructType(
    [
        T.StructField(USER, T.IntegerType(), False),
        T.StructField(SONG, T.IntegerType(), False),
        T.StructField(PLAYS, T.IntegerType(), False),
    ]
)


USERS_SCHEMA = T.StructType(
    [
        T.StructField(USER, T.IntegerType(), False),
        T.StructField(USER_ID, T.StringType(), False),
        T.StructField("n_songs", T.IntegerType(), False),
        T.StructField("n_plays", T.LongType(), False),
    ]
)


SONGS_SCHEMA = T.StructType(
    [
        T.StructField(SONG, T.IntegerType(), False),
        T.StructField(SONG_ID, T.StringType(), False),
        T.StructField(TRACK_ID, T.StringType(), True),
        T.StructField(ARTIST, T.StringType(), True),
        T.StructField(TITLE, T.StringType(), True),
        T.StructField("n_tracks", T.IntegerType(), False),
        T.StructField("has_lyrics", T.BooleanType(), False),
        T.StructField("n_listeners", T.IntegerType(), False),
        T.StructField("n_plays", T.LongType(), False),
    ]
)


LYRICS_SCHEMA = T.StructType(
    [
        T.StructField(SONG, T.IntegerType(), False),
        T.StructField(TRACK_ID, T.StringType(), False),
        T.StructField(WORD_IDX, T.ArrayType(T.IntegerType(), False), False),
        T.StructField(WORD_COUNT, T.ArrayType(T.IntegerType(), False), False),
    ]
)


VOCABULARY_SCHEMA = T.StructType(
    [
        T.StructField(WORD_IDX, T.IntegerType(), False),
        T.StructField(WORD, T.StringType(), False),
    ]
)


QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("input", T.StringType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField("line", T.LongType(), True),
        T.StructField("raw", T.StringType(), True),
        T.StructField("reason", T.StringType(), False),
        T.StructField("category", T.StringType(), False),
    ]
)


FACTORS_SCHEMA = {
    USER_FACTORS: T.StructType(
        [
            T.StructField(USER, T.IntegerType(), False),
            T.StructField(FEATURES, T.ArrayType(T.FloatType(), False), False),
        ]
    ),
    ITEM_FACTORS: T.StructType(
        [
            T.StructField(SONG, T.IntegerType(), False),
            T.StructField(FEATURES, T.ArrayType(T.FloatType(), False), False),
        ]
    ),
}


TOPN_SCHEMA = T.StructType(
    [
        T.StructField(USER, T.IntegerType(), False),
        T.StructField(SONG, T.IntegerType(), False),
        T.StructField(SCORE, T.FloatType(), False),
        T.StructField(RANK, T.IntegerType(), False),
    ]
)


NEIGHBOURS_SCHEMA = T.StructType(
    [
        T.StructField(SONG, T.IntegerType(), False),
        T.StructField(NEIGHBOUR, T.IntegerType(), False),
        T.StructField(SIMILARITY, T.FloatType(), False),
        T.StructField(RANK, T.IntegerType(), False),
    ]
)


RECOMMENDATIONS_SCHEMA = T.StructType(
    [
        T.StructField(USER, T.IntegerType(), False),
        T.StructField(RANK, T.IntegerType(), False),
        T.StructField(SONG, T.IntegerType(), False),
        T.StructField(SCORE, T.FloatType(), False),
        T.StructField(CF_SCORE, T.FloatType(), False),  # per-user min-max normalised, 0..1
        T.StructField(CONTENT_SCORE, T.FloatType(), False),  # per-user min-max normalised, 0..1
        T.StructField(ITEM_SCORE, T.FloatType(), False),  # co-play model, min-max, 0..1
        T.StructField(POPULARITY, T.FloatType(), False),  # song's play-count percentile, 0..1
        T.StructField(ALPHA, T.FloatType(), False),  # the cf weight used for this user
        T.StructField(ARTIST, T.StringType(), True),
        T.StructField(REASON_SONG, T.IntegerType(), True),
        T.StructField(REASON, T.StringType(), True),
    ]
)


SIMILAR_SONGS_SCHEMA = T.StructType(
    [
        T.StructField(SONG, T.IntegerType(), False),
        T.StructField(RANK, T.IntegerType(), False),
        T.StructField(SIMILAR, T.IntegerType(), False),
        T.StructField(SCORE, T.FloatType(), False),
        T.StructField(CF_SCORE, T.FloatType(), False),
        T.StructField(CONTENT_SCORE, T.FloatType(), False),
        T.StructField(SOURCE, T.StringType(), False),  # "cf", "coplay", "content" joined by "+"
        T.StructField(IS_COLD, T.BooleanType(), False),  # the seed song has no plays
    ]
)


METRICS_SCHEMA = T.StructType(
    [
        T.StructField("model", T.StringType(), False),  # popularity, als, content, hybrid
        T.StructField("metric", T.StringType(), False),  # precision, recall, ndcg, map, ...
        T.StructField("k", T.IntegerType(), True),
        T.StructField("value", T.DoubleType(), False),
        T.StructField(ALPHA, T.DoubleType(), True),  # set on alpha-sweep rows (model hybrid)
    ]
)

# publish's night-over-night figures (recsys.evaluation.drift): previous is null for figures
# that are about the pair (churn, users compared, songs entered)
RUN_COMPARISON_SCHEMA = T.StructType(
    [
        T.StructField("figure", T.StringType(), False),
        T.StructField("previous", T.DoubleType(), True),
        T.StructField("current", T.DoubleType(), True),
    ]
)


CONTENT_VECTORS_SCHEMA = T.StructType(
    [
        T.StructField(SONG, T.IntegerType(), False),
        T.StructField(FEATURES, T.ArrayType(T.FloatType(), False), False),
        T.StructField(HAS_LYRICS, T.BooleanType(), False),
        T.StructField(CONTENT_SOURCE, T.StringType(), False),
        T.StructField(TOPICS, T.ArrayType(T.FloatType(), False), True),
        T.StructField(TOP_TOPIC, T.IntegerType(), True),
    ]
)


LDA_TOPICS_SCHEMA = T.StructType(
    [
        T.StructField(TOPIC, T.IntegerType(), False),
        T.StructField(RANK, T.IntegerType(), False),
        T.StructField(WORD_IDX, T.IntegerType(), False),
        T.StructField(WORD, T.StringType(), True),
        T.StructField(WEIGHT, T.DoubleType(), False),
    ]
)


def to_schema(df: DataFrame, schema: T.StructType) -> DataFrame:
    """``df``'s columns of ``schema``, in its order, each cast to its type."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
