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
from collections.abc import Iterator
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
_BLOCK = "block"

_PACKED_SCHEMA = T.StructType(
    [
        T.StructField(_BLOCK, T.IntegerType(), False),
        T.StructField("ids", T.BinaryType(), False),
        T.StructField("matrix", T.BinaryType(), False),
        T.StructField("rows", T.IntegerType(), False),
        T.StructField("dim", T.IntegerType(), False),
    ]
)
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


# ----------------------------------------------------------------------------- exact


def _pack_blocks(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for pdf in batches:
        for block, part in pdf.groupby(_BLOCK, sort=True):
            ids = part[S.SONG].to_numpy(dtype=np.int32)
            matrix = np.stack(part[UNIT].to_numpy()).astype(np.float32)
            yield pd.DataFrame(
                {
                    _BLOCK: [int(block)],
                    "ids": [ids.tobytes()],
                    "matrix": [matrix.tobytes()],
                    "rows": [len(ids)],
                    "dim": [matrix.shape[1]],
                }
            )


def pack_blocks(unit: DataFrame, rows_per_block: int, n_rows: int) -> DataFrame:
    """Unit vectors packed as ``(block, ids, matrix, rows, dim)`` binary rows, one per block of
    about ``rows_per_block`` songs, each block in its own partition (as far as hashing allows)."""
    n_blocks = max(1, math.ceil(n_rows / rows_per_block))
    blocked = unit.withColumn(_BLOCK, F.pmod(F.xxhash64(S.SONG), F.lit(n_blocks)).cast("int"))
    return blocked.repartition(n_blocks, _BLOCK).mapInPandas(_pack_blocks, _PACKED_SCHEMA)


def _unpack(row: pd.Series, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    ids = np.frombuffer(row[f"{prefix}ids"], dtype=np.int32)
    matrix = np.frombuffer(row[f"{prefix}matrix"], dtype=np.float32)
    return ids, matrix.reshape(int(row[f"{prefix}rows"]), int(row[f"{prefix}dim"]))


def block_top_k(
    query_ids: np.ndarray,
    queries: np.ndarray,
    cand_ids: np.ndarray,
    candidates: np.ndarray,
    k: int,
    max_cells: int = 1 << 23,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's top ``k`` candidates by dot product, itself excluded.

    Returns flat ``(song, neighbour, similarity)`` arrays, at most ``k`` rows per query, in no
    particular order (the caller ranks). Queries go in chunks so a score matrix holds at most
    ``max_cells`` float32 values.
    """
    if queries.shape[1] != candidates.shape[1]:
        raise NeighbourError(
            f"vectors of length {queries.shape[1]} and {candidates.shape[1]} cannot be compared"
        )
    m = len(cand_ids)
    kk = min(k, m)
    out_q, out_c, out_s = [], [], []
    step = max(1, max_cells // max(1, m))
    for start in range(0, len(query_ids), step):
        q_ids = query_ids[start : start + step]
        scores = queries[start : start + step] @ candidates.T
        scores[q_ids[:, None] == cand_ids[None, :]] = -np.inf
        if kk < m:
            idx = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        else:
            idx = np.broadcast_to(np.arange(m), (len(q_ids), m))
        sims = np.take_along_axis(scores, idx, axis=1)
        keep = np.isfinite(sims)
        out_q.append(np.broadcast_to(q_ids[:, None], idx.shape)[keep])
        out_c.append(cand_ids[idx][keep])
        out_s.append(sims[keep])
    if not out_q:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(out_q), np.concatenate(out_c), np.concatenate(out_s)


def _score_block_pairs(k: int):
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            for _, row in pdf.iterrows():
                q_ids, queries = _unpack(row, "q_")
                c_ids, candidates = _unpack(row, "c_")
                songs, nbrs, sims = block_top_k(q_ids, queries, c_ids, candidates, k)
                yield pd.DataFrame(
                    {
                        S.SONG: songs.astype(np.int32),
                        S.NEIGHBOUR: nbrs.astype(np.int32),
                        S.SIMILARITY: sims.astype(np.float32),
                    }
                )

    return score


def exact_neighbours(
    vectors_df: DataFrame,
    k: int,
    *,
    queries: DataFrame | None = None,
    query_block_rows: int = 4096,
    candidate_block_rows: int = 32768,
) -> DataFrame:
    """Exact top ``k`` cosine neighbours by brute force (``content_neighbours`` layout).

    The catalogue (``vectors_df``, zero vectors dropped) and the query songs (``queries``, a
    DataFrame with a ``song_idx`` column, default all songs) are packed into blocks of float32
    unit vectors; every (query block, catalogue block) pair is one row of a cross join, scored
    by one numpy matrix product in ``mapInPandas`` keeping each query's top ``k`` in that block;
    a window then keeps the top ``k`` over all blocks. Nothing passes through the driver, and a
    task holds two blocks at a time. Ties break by the smaller neighbour id.
    """
    if k < 1:
        raise NeighbourError(f"k must be at least 1, got {k}")
    unit = unit_vectors(vectors_df)
    query_unit = unit if queries is None else unit.join(queries.select(S.SONG).distinct(), S.SONG)
    n_catalogue = unit.count()
    n_queries = n_catalogue if queries is None else query_unit.count()
    cand = pack_blocks(unit, candidate_block_rows, n_catalogue)
    query = pack_blocks(query_unit, query_block_rows, n_queries)
    prefixed = [F.col(c).alias(f"q_{c}") for c in query.columns]
    pairs = query.select(*prefixed).crossJoin(
        cand.select(*[F.col(c).alias(f"c_{c}") for c in cand.columns])
    )
    scored = pairs.mapInPandas(_score_block_pairs(k), _PAIR_SCHEMA)
    by_song = Window.partitionBy(S.SONG).orderBy(F.desc(S.SIMILARITY), F.asc(S.NEIGHBOUR))
    ranked = scored.withColumn(S.RANK, F.row_number().over(by_song)).where(F.col(S.RANK) <= k)
    return as_neighbours(ranked)


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
