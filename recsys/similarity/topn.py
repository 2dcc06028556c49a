"""Blocked top-N scoring of factor vectors with numpy inside ``mapInPandas``.

The item factor matrix is catalogue-sized (at the full scale 384K songs x rank 32 x 4 bytes,
about 50 MB): in a step it is shipped to the executors (:mod:`recsys.similarity.ship`), which
build it from Parquet, once per Python worker; called as a library (no scratch folder), it is
gathered on the driver and broadcast. Nothing user-sized ever reaches the driver: the
user factors stay distributed and are scored in blocks of ``rows_per_block`` users, each block
one float32 ``(block, n_items)`` matrix product, already-played songs masked to ``-inf``, and
the top N kept with ``np.partition`` plus a stable sort. Ties break by the smaller song id.

The same machinery gives song-to-song neighbours: normalised item factors scored against the
normalised item matrix (cosine), the song itself excluded.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.columns import unit_array
from recsys.errors import FactorError, NeighbourError
from recsys.ordering import ranked_order
from recsys.similarity.gather import gather_item_matrix
from recsys.similarity.ship import ship

EXCLUDE = "exclude"  # array<int> of song ids a query row must not be recommended
_QUERY = "query_idx"

_SCORED_SCHEMA = T.StructType(
    [
        T.StructField(_QUERY, T.IntegerType(), False),
        T.StructField(S.SONG, T.IntegerType(), False),
        T.StructField(S.SCORE, T.FloatType(), False),
        T.StructField(S.RANK, T.IntegerType(), False),
    ]
)

# ----------------------------------------------------------------------------- numpy core


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def exact_scores(
    queries: np.ndarray, rows: np.ndarray, item_matrix: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """``queries[rows] . item_matrix[cols]`` pair by pair, in float64 rounded to float32.

    float32 products are exact in float64 and every pair is summed by the same code, so equal
    vectors give bit-equal scores whatever the block layout (a BLAS matrix product does not
    promise that), which is what makes "ties break by the smaller id" hold.
    """
    out = np.empty(rows.size, dtype=np.float32)
    step = max(1, 2**22 // max(1, queries.shape[1]))  # about 32 MB of float64 per chunk
    for start in range(0, rows.size, step):
        r, c = rows[start : start + step], cols[start : start + step]
        products = queries[r].astype(np.float64) * item_matrix[c].astype(np.float64)
        out[start : start + step] = products.sum(axis=1)
    return out


def top_n_block(
    queries: np.ndarray,
    excluded: list | None,
    item_ids: np.ndarray,
    item_matrix: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top ``n`` items for each query row of one block.

    Parameters
    ----------
    queries : (b, rank) float32 query vectors.
    excluded : per query row, an iterable of item ids to leave out (or None).
    item_ids : (m,) item ids sorted ascending; ``item_matrix`` rows follow this order.
    item_matrix : (m, rank) float32.
    n : how many items to keep per query (fewer when fewer are left after exclusion).

    Returns
    -------
    row, item_id, score, rank : flat arrays, sorted by row then rank (1-based); within a row
    scores descend and equal scores come in ascending item id. Scores are the float64 dot
    products rounded to float32 (see :func:`exact_scores`).
    """
    queries = np.asarray(queries, dtype=np.float32)
    b, m = queries.shape[0], item_matrix.shape[0]
    if n < 1 or b == 0 or m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32), empty
    scores = queries @ item_matrix.T  # float32 BLAS: finds the candidates
    if excluded is not None:
        lengths = np.fromiter((0 if e is None else len(e) for e in excluded), np.int64, b)
        if lengths.sum():
            flat = np.concatenate(
                [np.asarray(e, dtype=np.int64) for e in excluded if e is not None]
            )
            rows = np.repeat(np.arange(b), lengths)
            pos = np.searchsorted(item_ids, flat)
            pos_ok = np.minimum(pos, m - 1)
            known = (pos < m) & (item_ids[pos_ok] == flat)
            scores[rows[known], pos_ok[known]] = -np.inf
    k = min(n, m)
    # Float32 BLAS scores can be off by up to about rank * eps * |q| * |v|: every item within
    # that slack of a row's k-th best is a candidate, rescored exactly below, so ties at the
    # boundary are all seen and the smallest ids among them win.
    v_max = float(np.linalg.norm(item_matrix, axis=1).max())
    slack = (1e-5 * queries.shape[1] * v_max) * np.linalg.norm(queries, axis=1)
    floor = _kth_lower_bound(scores, k)
    flat = np.flatnonzero(scores >= (floor - slack)[:, None])  # 5x faster than 2-D nonzero
    rows, cols = np.divmod(flat, m)
    cand = scores[rows, cols]
    # The row's true float32 k-th best among its candidates (which hold its top k): the
    # candidates, row-major already, padded into a (b, widest row) matrix and partitioned.
    counts = np.bincount(rows, minlength=b)
    width = max(k, int(counts.max(initial=0)))
    padded = np.full((b, width), -np.inf, dtype=np.float32)
    padded[rows, np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)] = cand
    kth = np.partition(padded, width - k, axis=1)[:, width - k]
    near = cand >= kth[rows] - slack[rows]
    rows, cols = rows[near], cols[near]
    exact = exact_scores(queries, rows, item_matrix, cols)
    order = ranked_order((rows, b), exact, (cols, m))  # (row, col) unique: np.lexsort's order
    rows, cols, exact = rows[order], cols[order], exact[order]
    rank = np.arange(rows.size) - np.searchsorted(rows, rows, side="left") + 1
    keep = rank <= k
    return rows[keep], item_ids[cols[keep]], exact[keep], rank[keep]


def _kth_lower_bound(scores: np.ndarray, k: int, oversample: int = 8) -> np.ndarray:
    """A per-row lower bound on the k-th largest finite score (cheaply).

    The k-th largest of any column subset is at most the row's k-th largest, so a partition
    over every ``stride``-th column (1/8 of the work) gives a bound that lets about
    ``stride * k`` candidates through. Rows whose subset holds fewer than k finite scores
    fall back to the full row; a row with fewer than k finite scores at all gets the lowest
    finite float32, so only its -inf (excluded) entries stay out.
    """
    b, m = scores.shape
    stride = max(1, min(oversample, m // (4 * k)))
    sub = scores[:, ::stride] if stride > 1 else scores
    length = sub.shape[1]
    bound = np.partition(sub, length - k, axis=1)[:, length - k]
    redo = ~np.isfinite(bound)
    if stride > 1 and redo.any():
        bound[redo] = np.partition(scores[redo], m - k, axis=1)[:, m - k]
        redo = ~np.isfinite(bound)
    bound[redo] = np.finfo(np.float32).min
    return bound


def normalised_items(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, matrix)`` with the matrix's rows made unit (:func:`normalise_rows`)."""
    return pair[0], normalise_rows(pair[1])


def _as_is(value):
    return value


def rows_per_block(n_items: int, block_size: int, block_memory_mb: int) -> int:
    """Query rows per numpy block: ``block_size`` capped so one block's score matrix (and its
    working copies, 12 bytes per item in all) stays within ``block_memory_mb``."""
    budget = block_memory_mb * 2**20 // max(1, 12 * n_items)
    return int(max(1, min(block_size, budget)))


# ----------------------------------------------------------------------------- Spark side


def _score_partitions(broadcast, n: int, blocks: tuple[int, int], normalise: bool, id_col: str):
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        item_ids, item_matrix = broadcast.value
        block_rows = rows_per_block(len(item_ids), *blocks)
        for pdf in batches:
            for start in range(0, len(pdf), block_rows):
                part = pdf.iloc[start : start + block_rows]
                queries = np.stack(part[S.FEATURES].to_numpy()).astype(np.float32)
                if len(item_ids) and queries.shape[1] != item_matrix.shape[1]:
                    raise FactorError(
                        f"query vectors have length {queries.shape[1]}, item factors "
                        f"{item_matrix.shape[1]}"
                    )
                if normalise:
                    queries = normalise_rows(queries)
                rows, songs, scores, ranks = top_n_block(
                    queries, list(part[EXCLUDE]), item_ids, item_matrix, n
                )
                query_ids = part[id_col].to_numpy(dtype=np.int32)
                yield pd.DataFrame(
                    {
                        _QUERY: query_ids[rows],
                        S.SONG: songs.astype(np.int32),
                        S.SCORE: scores.astype(np.float32),
                        S.RANK: ranks.astype(np.int32),
                    }
                )

    return score


def score_top_n(
    queries: DataFrame,
    item_ids: np.ndarray,
    item_matrix: np.ndarray,
    n: int,
    *,
    id_col: str,
    block_size: int = 4096,
    block_memory_mb: int = 256,
    normalise: bool = False,
) -> DataFrame:
    """Score each query row against the broadcast item matrix; keep its top ``n``.

    ``queries`` has ``id_col``, ``features`` (array<float>) and ``exclude`` (array<int> or
    null). Returns ``(query_idx, song_idx, score, rank)``; with ``normalise`` the item matrix
    must already be row-normalised and the query rows are normalised too (cosine scores).
    """
    spark = queries.sparkSession
    broadcast = register_broadcast(spark.sparkContext.broadcast((item_ids, item_matrix)))
    return score_shipped(
        queries,
        broadcast,
        n,
        id_col=id_col,
        block_size=block_size,
        block_memory_mb=block_memory_mb,
        normalise=normalise,
    )


def score_shipped(
    queries: DataFrame,
    items,
    n: int,
    *,
    id_col: str,
    block_size: int = 4096,
    block_memory_mb: int = 256,
    normalise: bool = False,
) -> DataFrame:
    """:func:`score_top_n` against ``items``, a broadcast or a shipped ``(ids, matrix)``
    (:func:`recsys.similarity.ship.ship`); the block rows follow the item count in the worker."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return queries.select(id_col, S.FEATURES, EXCLUDE).mapInPandas(
        _score_partitions(items, n, (block_size, block_memory_mb), normalise, id_col),
        _SCORED_SCHEMA,
    )


# The item matrices score_top_n broadcast, until the step that used them releases them.
_LIVE: list = []


def live_broadcasts() -> int:
    """How many item matrices are broadcast now (a mark for :func:`release_broadcasts`)."""
    return len(_LIVE)


def register_broadcast(broadcast):
    """Hand a broadcast to :func:`release_broadcasts` (the step runner destroys it once the
    step's tables are written); returns it."""
    _LIVE.append(broadcast)
    return broadcast


def destroy_broadcast(broadcast) -> None:
    """Destroy one registered broadcast now (before its step ends), once."""
    if any(b is broadcast for b in _LIVE):
        _LIVE[:] = [b for b in _LIVE if b is not broadcast]
    broadcast.destroy()


def release_broadcasts(since: int = 0) -> int:
    """Destroy the item matrices :func:`score_top_n` broadcast since the mark ``since`` (on
    the driver and the executors); the step runner calls it once a step's tables are written.
    Returns how many."""
    n = 0
    while len(_LIVE) > since:
        _LIVE.pop().destroy()
        n += 1
    return n


def played_songs(interactions: DataFrame, partitions: int = 0) -> DataFrame:
    """``(user_idx, exclude array<int>)``: each user's played songs.

    With ``partitions`` the result is hash-partitioned by user into that many parts (one
    shuffle), ready to join factors partitioned the same way without another.
    """
    if partitions:
        interactions = interactions.repartition(partitions, S.USER)
    return interactions.groupBy(S.USER).agg(F.collect_list(F.col(S.SONG)).alias(EXCLUDE))


def scoring_partitions(spark, partitions: int = 0) -> int:
    """Partitions for the scoring stage: ``partitions``, or twice the default parallelism.

    Factor tables are small in bytes but costly to score, so adaptive execution would merge
    them into too few partitions; an explicit count keeps every core busy.
    """
    return partitions or 2 * spark.sparkContext.defaultParallelism


def partition_keys(spark, parts: int) -> list[int]:
    """For each partition ``p < parts``, an integer key that Spark's hash partitioning into
    ``parts`` partitions sends to partition ``p`` (``pmod(hash(key), parts)``, the expression
    of ``repartition(parts, key)``): rows keyed by ``keys[p]`` land in partition ``p``."""
    probe = spark.range(64 * parts).select(
        F.col("id").cast("int").alias("key"), F.pmod(F.hash(F.col("id").cast("int")), parts)
    )
    first: dict[int, int] = {}
    for key, part in probe.collect():  # 64 x parts small rows: O(config), not data
        first.setdefault(int(part), int(key))
    missing = [p for p in range(parts) if p not in first]
    if missing:  # vanishingly unlikely: 64 tries per partition
        raise NeighbourError(f"no hash partitioning key found for partitions {missing}")
    return [first[p] for p in range(parts)]


def recommend_top_n(
    user_factors: DataFrame,
    item_factors: DataFrame,
    interactions: DataFrame | None,
    n: int,
    *,
    block_size: int = 4096,
    block_memory_mb: int = 256,
    partitions: int = 0,
) -> DataFrame:
    """Each user's top ``n`` unplayed songs by factor dot product (``cf_user_topn``).

    Users without factors get no rows; users with fewer than ``n`` unplayed songs get fewer.
    Pass ``interactions=None`` to score without excluding anything. ``partitions`` (0: twice
    the default parallelism) sets how many tasks score.
    """
    spark = user_factors.sparkSession
    items = ship(spark, [gather_item_matrix(item_factors)], _as_is)
    parts = scoring_partitions(spark, partitions)
    users = user_factors.repartition(parts, S.USER)
    if interactions is None:
        queries = users.withColumn(EXCLUDE, F.lit(None).cast("array<int>"))
    else:
        queries = users.join(played_songs(interactions, parts), S.USER, "left")
    scored = score_shipped(
        queries,
        items,
        n,
        id_col=S.USER,
        block_size=block_size,
        block_memory_mb=block_memory_mb,
    )
    return S.to_schema(scored.withColumnRenamed(_QUERY, S.USER), S.TOPN_SCHEMA)


def _as_neighbours(scored: DataFrame) -> DataFrame:
    renamed = scored.select(
        F.col(_QUERY).alias(S.SONG),
        F.col(S.SONG).alias(S.NEIGHBOUR),
        F.col(S.SCORE).alias(S.SIMILARITY),
        F.col(S.RANK),
    )
    return S.to_schema(renamed, S.NEIGHBOURS_SCHEMA)


def exact_neighbours(
    vectors: DataFrame,
    k: int,
    *,
    queries: DataFrame | None = None,
    block_size: int = 4096,
    block_memory_mb: int = 256,
    partitions: int = 0,
) -> DataFrame:
    """Each song's ``k`` most cosine-similar songs, itself excluded, by brute force.

    The one exact search: ``cf_neighbours`` (item factors), content neighbours with
    ``neighbours.method=exact`` and the LSH recall check. ``vectors`` is ``(song_idx,
    features)``; songs whose vector has no direction (all zeros, null or NaN) are left out on
    both sides. ``queries`` (a frame with ``song_idx``) limits whose neighbours are found;
    every song by default. Ties go to the smaller song id.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise NeighbourError(f"k must be a positive integer, got {k!r}")
    usable = vectors.select(S.SONG, S.FEATURES).where(unit_array(F.col(S.FEATURES)).isNotNull())
    items = ship(vectors.sparkSession, [gather_item_matrix(usable)], normalised_items)
    query_rows = usable
    if queries is not None:
        query_rows = usable.join(queries.select(S.SONG).distinct(), S.SONG, "left_semi")
    parts = scoring_partitions(vectors.sparkSession, partitions)
    query_rows = query_rows.repartition(parts, S.SONG).withColumn(EXCLUDE, F.array(F.col(S.SONG)))
    scored = score_shipped(
        query_rows,
        items,
        k,
        id_col=S.SONG,
        block_size=block_size,
        block_memory_mb=block_memory_mb,
        normalise=True,
    )
    return _as_neighbours(scored)


def cf_neighbours(
    item_factors: DataFrame,
    k: int,
    method: str = "exact",
    *,
    block_size: int = 4096,
    block_memory_mb: int = 256,
    partitions: int = 0,
    bucket_length: float = 0.2,
    num_hash_tables: int = 3,
    hashes_per_table: int = 1,
    max_candidates: int = 200,
    min_similarity: float = 0.0,
    seed: int = 42,
) -> DataFrame:
    """Song-to-song collaborative neighbours by the configured method.

    ``exact``: every song against the broadcast catalogue, blocked numpy (above). ``lsh``:
    the content step's bounded ``BucketedRandomProjectionLSH`` search
    (:func:`recsys.lsh.lsh_neighbours`) on the item factors, for catalogues too large to
    score exactly; each song meets at most ``num_hash_tables * (max_candidates - 1)``
    candidates.
    """
    if method == "exact":
        return exact_neighbours(
            item_factors,
            k,
            block_size=block_size,
            block_memory_mb=block_memory_mb,
            partitions=partitions,
        )
    if method == "lsh":
        from recsys.similarity import lsh

        return lsh.lsh_neighbours(
            item_factors.select(S.SONG, S.FEATURES),
            k,
            bucket_length,
            num_hash_tables,
            max_candidates,
            seed,
            hashes_per_table=hashes_per_table,
            min_similarity=min_similarity,
        )
    raise ValueError(f"neighbours method {method!r} is not one of: exact, lsh")
