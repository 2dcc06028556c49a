"""Song-to-song neighbours on unit vectors: approximate with ``BucketedRandomProjectionLSH``,
exact with a blocked numpy matrix product, and the recall of the first against the second.

On unit vectors Euclidean distance orders like cosine (``cos = 1 - d**2 / 2``), so a cosine
floor ``s`` is the distance threshold ``sqrt(2 - 2 s)``.

Why the candidate join is written here instead of calling ``approxSimilarityJoin``: Spark's
BRP model has one hash per table (only OR-amplification), and on 64-dimensional unit vectors a
projection on a random unit direction has a standard deviation of ``1/8``, so with
``bucketLength`` 0.2 a table has only a handful of buckets and each holds a large share of the
catalogue; ``approxSimilarityJoin`` then compares a large share of all pairs, and nothing in it
bounds a popular bucket. Here the model's hashes are used as Spark computes them, but

- ``hashes_per_table`` consecutive hashes are AND-ed into one bucket key (classic E2LSH: more
  selective buckets, more tables for recall), and
- a bucket with more than ``max_candidates`` songs is cut into chunks of at most that many,
  songs ordered along one more seeded random direction so near songs share a chunk.

So every song meets at most ``num_hash_tables * (max_candidates - 1)`` candidates, whatever the
data. Each chunk is scored by one numpy matrix product in ``applyInPandas`` (a Spark SQL row per
candidate pair costs a few hundred times a BLAS multiply-add, which would make LSH lose to brute
force at any size this project has), each song keeps its top K per chunk, and the lists of all
tables are merged into the final top K.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml.feature import BucketedRandomProjectionLSH
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.columns import dot, unit_array
from recsys.errors import NeighbourError

UNIT = "unit"
_TABLE, _KEY, _CHUNK, _ORDER = "lsh_table", "lsh_key", "lsh_chunk", "lsh_order"

_PAIR_SCHEMA = T.StructType(
    [
        T.StructField(S.SONG, T.IntegerType(), False),
        T.StructField(S.NEIGHBOUR, T.IntegerType(), False),
        T.StructField(S.SIMILARITY, T.FloatType(), False),
    ]
)


# ----------------------------------------------------------------------------- helpers


def distance_threshold(min_similarity: float) -> float:
    """The Euclidean distance between unit vectors whose cosine is ``min_similarity``."""
    return math.sqrt(max(0.0, 2.0 - 2.0 * min_similarity))


def unit_vectors(vectors_df: DataFrame, features_col: str = S.FEATURES) -> DataFrame:
    """``(song_idx, unit array<double>)``: vectors scaled to unit length, zero vectors dropped.

    A zero (or null, or NaN) vector has no direction: BRP would give it a NaN norm and NaN
    hash, and the join on such buckets explodes, so it never reaches the LSH.
    """
    values = F.transform(F.col(features_col), lambda x: x.cast("double"))
    return (
        vectors_df.select(F.col(S.SONG).cast("int").alias(S.SONG), values.alias("v"))
        .select(S.SONG, unit_array(F.col("v")).alias(UNIT))
        .where(F.col(UNIT).isNotNull())
    )


def _signed_direction_dot(unit: Column, table: Column, seed: int) -> Column:
    """``unit . r`` for a seeded random ``±1`` direction per table (orders a bucket's songs)."""
    signs = F.transform(
        F.sequence(F.lit(0), F.size(unit) - 1),
        lambda j: F.when(
            F.xxhash64(j, table, F.lit(seed)).bitwiseAND(F.lit(1)) == 0, 1.0
        ).otherwise(-1.0),
    )
    return dot(unit, signs)


def _top_k(pairs: DataFrame, k: int) -> DataFrame:
    """Rank each song's distinct neighbours by similarity (ties: smaller id first), keep ``k``.

    A pair found in several tables appears several times with a bit-identical similarity, so
    ``dense_rank`` over ``(similarity, neighbour)`` gives the copies one rank; dropping the
    copies afterwards needs no new shuffle (the rows are already partitioned by song).
    """
    by_song = Window.partitionBy(S.SONG).orderBy(F.desc(S.SIMILARITY), F.asc(S.NEIGHBOUR))
    ranked = pairs.withColumn(S.RANK, F.dense_rank().over(by_song)).where(F.col(S.RANK) <= k)
    return as_neighbours(ranked.dropDuplicates([S.SONG, S.NEIGHBOUR]))


def as_neighbours(df: DataFrame) -> DataFrame:
    """Cast and order columns to :data:`recsys.schemas.NEIGHBOURS_SCHEMA`."""
    return df.select(
        [F.col(f.name).cast(f.dataType).alias(f.name) for f in S.NEIGHBOURS_SCHEMA.fields]
    )


# ----------------------------------------------------------------------------- LSH


def lsh_buckets(
    unit: DataFrame,
    bucket_length: float,
    num_hash_tables: int,
    max_candidates: int,
    seed: int,
    hashes_per_table: int = 1,
) -> DataFrame:
    """``(song_idx, unit, lsh_table, lsh_key, lsh_chunk)``: each song's bucket chunk per table.

    Hashes come from a fitted :class:`~pyspark.ml.feature.BucketedRandomProjectionLSH` with
    ``num_hash_tables * hashes_per_table`` hash functions; table ``t`` keys on hashes
    ``t*r .. t*r + r - 1``. Buckets larger than ``max_candidates`` are split into
    ``ceil(n / max_candidates)`` chunks of consecutive songs along a seeded random direction.
    """
    if max_candidates < 2:
        raise NeighbourError(f"max_candidates must be at least 2, got {max_candidates}")
    r = hashes_per_table
    model = BucketedRandomProjectionLSH(
        inputCol="vector",
        outputCol="hashes",
        bucketLength=bucket_length,
        numHashTables=num_hash_tables * r,
        seed=seed,
    ).fit(unit.select(array_to_vector(F.col(UNIT)).alias("vector")).limit(1))
    hashed = model.transform(unit.withColumn("vector", array_to_vector(F.col(UNIT)))).select(
        S.SONG,
        UNIT,
        F.transform("hashes", lambda h: vector_to_array(h)[0].cast("long")).alias("h"),
    )
    tables = F.transform(
        F.sequence(F.lit(0), F.lit(num_hash_tables - 1)),
        lambda t: F.struct(t.alias(_TABLE), F.slice("h", t * r + 1, r).alias(_KEY)),
    )
    exploded = hashed.select(S.SONG, UNIT, F.explode(tables).alias("t")).select(
        S.SONG, UNIT, F.col(f"t.{_TABLE}").alias(_TABLE), F.col(f"t.{_KEY}").alias(_KEY)
    )
    bucket = Window.partitionBy(_TABLE, _KEY)
    ordered = bucket.orderBy(_ORDER, S.SONG)
    chunks = F.ceil(F.col("n") / F.lit(max_candidates))
    return (
        exploded.withColumn(_ORDER, _signed_direction_dot(F.col(UNIT), F.col(_TABLE), seed + 1))
        .withColumn("n", F.count(F.lit(1)).over(bucket))
        .withColumn("i", F.row_number().over(ordered) - 1)
        .withColumn(_CHUNK, F.floor(F.col("i") * chunks / F.col("n")).cast("int"))
        .select(S.SONG, UNIT, _TABLE, _KEY, _CHUNK)
    )


def exact_similarities(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of float32 rows, summed in float64 and rounded to float32.

    The result depends only on the two vectors (not on the block a BLAS product ran in), so a
    pair scored in two LSH tables gets bit-identical similarities and the copies collapse.
    """
    return (a.astype(np.float64) * b.astype(np.float64)).sum(axis=1).astype(np.float32)


def chunk_top_k(ids: np.ndarray, matrix: np.ndarray, k: int, min_similarity: float):
    """Within one bucket chunk, each song's top ``k`` others with cosine >= ``min_similarity``.

    Returns flat ``(song, neighbour, similarity)`` arrays (unranked).
    """
    n = len(ids)
    if n < 2:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, np.zeros(0, dtype=np.float32)
    scores = matrix @ matrix.T
    np.fill_diagonal(scores, -np.inf)
    kk = min(k, n - 1)
    idx = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    rows = np.repeat(np.arange(n), kk)
    cols = idx.ravel()
    sims = exact_similarities(matrix[rows], matrix[cols])
    keep = sims >= np.float32(min_similarity)
    return ids[rows[keep]], ids[cols[keep]], sims[keep]


def _score_chunks(k: int, min_similarity: float):
    def score(pdf: pd.DataFrame) -> pd.DataFrame:
        ids = pdf[S.SONG].to_numpy(dtype=np.int32)
        matrix = np.stack(pdf[UNIT].to_numpy()).astype(np.float32)
        songs, nbrs, sims = chunk_top_k(ids, matrix, k, min_similarity)
        return pd.DataFrame({S.SONG: songs, S.NEIGHBOUR: nbrs, S.SIMILARITY: sims})

    return score


def lsh_neighbours(
    vectors_df: DataFrame,
    k: int,
    bucket_length: float,
    num_hash_tables: int,
    max_candidates: int,
    seed: int,
    *,
    hashes_per_table: int = 1,
    min_similarity: float = -1.0,
) -> DataFrame:
    """Approximate top ``k`` cosine neighbours per song (``content_neighbours`` layout).

    ``vectors_df`` has ``song_idx`` and ``features`` (array of numbers; scaled to unit length
    here, zero vectors dropped). Songs sharing a bucket chunk in any table are candidates; each
    chunk (at most ``max_candidates`` songs) is scored by one numpy matrix product in
    ``applyInPandas`` and keeps each member's top ``k`` with cosine of at least
    ``min_similarity`` (Euclidean distance at most :func:`distance_threshold`); the per-table
    lists are then merged. Similarity is the exact cosine of the pair; ranks are 1-based.
    """
    if k < 1:
        raise NeighbourError(f"k must be at least 1, got {k}")
    buckets = lsh_buckets(
        unit_vectors(vectors_df),
        bucket_length,
        num_hash_tables,
        max_candidates,
        seed,
        hashes_per_table,
    )
    pairs = (
        buckets.select(_TABLE, _KEY, _CHUNK, S.SONG, UNIT)
        .groupBy(_TABLE, _KEY, _CHUNK)
        .applyInPandas(_score_chunks(k, min_similarity), _PAIR_SCHEMA)
    )
    return _top_k(pairs, k)


def bucket_stats(buckets: DataFrame) -> dict[str, Any]:
    """Sizes of the LSH buckets (before chunking): how selective the hashing is."""
    sizes = buckets.groupBy(_TABLE, _KEY).agg(F.count(F.lit(1)).alias("n"))
    row = sizes.agg(
        F.count(F.lit(1)).alias("buckets"),
        F.max("n").alias("largest"),
        F.sum(F.col("n") * F.col("n")).alias("pairs_unchunked"),
    ).first()
    return row.asDict()


# ----------------------------------------------------------------------------- recall


def lsh_recall(lsh_nbrs: DataFrame, exact_nbrs: DataFrame, k: int | None = None) -> dict[str, Any]:
    """Recall@K of approximate neighbours against exact ones, over the songs in ``exact_nbrs``.

    Per query song: the share of its exact top K (``rank <= k``; all rows when ``k`` is None)
    that the approximate top K also holds; songs the LSH found nothing for count as 0. Returns
    ``{"recall": mean, "songs": n, "k": k, "min": ..., "songs_full_recall": ...}``.
    """
    exact = exact_nbrs if k is None else exact_nbrs.where(F.col(S.RANK) <= k)
    k_used = k if k is not None else exact.agg(F.max(S.RANK)).first()[0]
    approx = lsh_nbrs.where(F.col(S.RANK) <= F.lit(k_used)).select(
        S.SONG, S.NEIGHBOUR, F.lit(1).alias("found")
    )
    per_song = (
        exact.select(S.SONG, S.NEIGHBOUR)
        .join(approx, [S.SONG, S.NEIGHBOUR], "left")
        .groupBy(S.SONG)
        .agg((F.count("found") / F.count(F.lit(1))).alias("recall"))
    )
    row = per_song.agg(
        F.avg("recall").alias("recall"),
        F.count(F.lit(1)).alias("songs"),
        F.min("recall").alias("min"),
        F.sum((F.col("recall") >= 1.0).cast("int")).alias("songs_full_recall"),
    ).first()
    return {
        "recall": float(row["recall"]) if row["recall"] is not None else None,
        "songs": int(row["songs"]),
        "k": int(k_used) if k_used is not None else None,
        "min": float(row["min"]) if row["min"] is not None else None,
        "songs_full_recall": int(row["songs_full_recall"] or 0),
    }


def sample_songs(vectors_df: DataFrame, n: int, seed: int) -> DataFrame:
    """``n`` songs with a non-zero vector, picked by a seeded hash (the same on every run)."""
    unit = unit_vectors(vectors_df).select(S.SONG)
    return unit.orderBy(F.xxhash64(S.SONG, F.lit(seed)), S.SONG).limit(n)
