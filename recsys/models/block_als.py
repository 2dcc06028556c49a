"""Implicit ALS solved in vectorised numpy blocks on the executors (``als.solver: blocks``).

The same model as Spark ML's implicit ALS (Hu, Koren, Volinsky 2008, with Spark's choices): for
each user ``u`` with songs ``I(u)``, strengths ``r`` and ``c1 = alpha * r``,

    (Y'Y + sum_i c1_i y_i y_i' + reg_param * |I(u)| * I) x_u = sum_i (1 + c1_i) y_i

solved exactly (a batched ``numpy.linalg.solve`` in float64, factors kept in float32), then the
same for the songs against the user factors; each iteration solves the songs first, as Spark does.

How it runs: the ratings are packed once, by user and by song, into CSR chunks (one binary row
per chunk of whole users, or songs, of at most ``CHUNK_RATINGS`` ratings) cached for the fit.
Each half-iteration maps the chunks of one side (``mapInPandas``) against the other side's whole
factor matrix, which reaches the executors as a shipped structure
(:func:`recsys.similarity.ship.ship`: files under the run's scratch folder, never the driver's
memory, or a broadcast in library use) together with its Gram matrix ``Y'Y``, built once per
worker. Inside a chunk the rows are grouped by their rating count (padded to at most a fifth
more) so that ``sum c1 y y'`` is one batched float32 matrix product per group. A half-iteration
reads the cached chunks, writes ``rows x rank`` floats and shuffles nothing; Spark ML's version
shuffles each factor to every block that rated it, every half-iteration.

A half-iteration is one Spark job (about 0.5 s on 2 local cores at 1M ratings, of which the
solve is 0.3 s), so a fit of at most ``als.one_task_max_ratings`` ratings (8M) divided by the
executors (:func:`one_task_limit`) runs whole in one task (:func:`fit_in_one_task`) on the cores
of its executor as threads: one job, no other task beside it, the same factors (on 2 local
cores 7.5 s against 16.0 s distributed at 1M ratings, 32.7 s against 48.1 s at 3.2M).

Initial user factors are Gaussian, unit-normalised and derived from ``(seed, user id)`` alone, and
each row's solve reads only its own ratings in a fixed order and pads them to a width fixed by
their count, so the factors do not depend on the block counts, the partitioning or the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import ModelError
from recsys.similarity import ship, topn
from recsys.similarity.gather import _CHUNK_SCHEMA, _unpack_matrix

if TYPE_CHECKING:
    from recsys.config import AlsConfig

CHUNK_RATINGS = 200_000  # ratings per packed chunk (whole rows: one larger row stays whole)
GROUP_ELEMENTS = 1 << 20  # rows x padded length x rank floats gathered at once (4 MB float32)

_CSR_SCHEMA = T.StructType(
    [
        T.StructField("keys", T.BinaryType(), False),  # int32 row ids, ascending
        T.StructField("counts", T.BinaryType(), False),  # int32 ratings per row
        T.StructField("others", T.BinaryType(), False),  # int32 column ids, ascending per row
        T.StructField("strength", T.BinaryType(), False),  # float32 preference strengths
    ]
)
_FACTOR_SCHEMA = T.StructType(
    [
        T.StructField("id", T.IntegerType(), False),
        T.StructField(S.FEATURES, T.ArrayType(T.FloatType()), False),
    ]
)


# ----------------------------------------------------------------------------- packing


def _chunk_bounds(counts: np.ndarray, max_ratings: int) -> list[tuple[int, int]]:
    """``[(first row, end row)]``: consecutive rows holding at most ``max_ratings`` ratings
    (a row with more is a chunk of its own)."""
    from recsys.models.pool import block_bounds

    return block_bounds(counts, max_ratings, max_rows=len(counts) + 1)


def _to_csr(key_values: np.ndarray, other_values: np.ndarray, strength) -> tuple:
    """``(keys ascending, counts, others, strengths)``: ratings as CSR rows, sorted by
    ``(key, other)``."""
    order = np.lexsort((other_values, key_values))
    keys_all, others = key_values[order], other_values[order]
    starts = np.flatnonzero(np.r_[True, keys_all[1:] != keys_all[:-1]])
    counts = np.diff(np.r_[starts, len(keys_all)]).astype(np.int32)
    return keys_all[starts], counts, others, np.asarray(strength, dtype=np.float32)[order]


def _pack_csr(key: str, other: str, max_ratings: int):
    """mapInPandas: a partition, sorted here by ``(key, other)``, into CSR chunk rows."""

    def pack(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        frames = [pdf for pdf in batches if len(pdf)]
        if not frames:
            return
        pdf = pd.concat(frames, ignore_index=True)
        keys, counts, others, strength = _to_csr(
            pdf[key].to_numpy(np.int32), pdf[other].to_numpy(np.int32), pdf["preference"]
        )
        offsets = np.r_[0, np.cumsum(counts)]
        for lo, hi in _chunk_bounds(counts, max_ratings):
            a, b = offsets[lo], offsets[hi]
            yield pd.DataFrame(
                {
                    "keys": [keys[lo:hi].tobytes()],
                    "counts": [counts[lo:hi].tobytes()],
                    "others": [others[a:b].tobytes()],
                    "strength": [strength[a:b].tobytes()],
                }
            )

    return pack


def csr_chunks(prefs: DataFrame, key: str, other: str, partitions: int) -> DataFrame:
    """``prefs (user_idx, song_idx, preference)`` packed by ``key`` into CSR chunk rows."""
    ordered = prefs.repartition(partitions, key)
    return ordered.mapInPandas(_pack_csr(key, other, CHUNK_RATINGS), _CSR_SCHEMA)


def _csr(row) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.frombuffer(row["keys"], np.int32),
        np.frombuffer(row["counts"], np.int32),
        np.frombuffer(row["others"], np.int32),
        np.frombuffer(row["strength"], np.float32),
    )


def _factor_row(ids: np.ndarray, matrix: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ids": [ids.astype(np.int32).tobytes()],
            "matrix": [np.ascontiguousarray(matrix, dtype=np.float32).tobytes()],
            "rows": [len(ids)],
            "dim": [matrix.shape[1]],
        }
    )


# ----------------------------------------------------------------------------- initial factors


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def initial_factors(ids: np.ndarray, rank: int, seed: int) -> np.ndarray:
    """Unit-norm Gaussian rows, each a function of ``(seed, id)`` alone (float32)."""
    with np.errstate(over="ignore"):
        base = _splitmix(np.full(1, seed & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64))[0]
        counter = ids.astype(np.uint64)[:, None] * np.uint64(2 * rank) + np.arange(
            2 * rank, dtype=np.uint64
        )
        bits = _splitmix(counter ^ base) >> np.uint64(11)
    uniform = (bits.astype(np.float64) + 0.5) / float(1 << 53)
    u1, u2 = uniform[:, :rank], uniform[:, rank:]
    normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return (normal / np.linalg.norm(normal, axis=1, keepdims=True)).astype(np.float32)


def _init_chunks(rank: int, seed: int):
    def init(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            for _, row in pdf.iterrows():
                keys = _csr(row)[0]
                yield _factor_row(keys, initial_factors(keys, rank, seed))

    return init


# ----------------------------------------------------------------------------- solving


def _with_gram(matrix_parts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A shipped factor matrix as ``(ids ascending, factors, factors' factors)``."""
    ids, matrix = matrix_parts
    m64 = matrix.astype(np.float64)
    return ids, matrix, m64.T @ m64


def solve_rows(
    counts: np.ndarray,
    others: np.ndarray,
    strength: np.ndarray,
    fixed: tuple[np.ndarray, np.ndarray, np.ndarray],
    reg_param: float,
    alpha: float,
) -> np.ndarray:
    """The least-squares factors of CSR rows against the ``fixed`` side's ``(ids, factors,
    gram)``: one row per count, float32."""
    ids, matrix, gram = fixed
    pos = np.searchsorted(ids, others)
    if len(others) and (pos.max() >= len(ids) or np.any(ids[pos] != others)):
        raise ModelError("ALS ratings name an id the other side's factors lack")
    rank = matrix.shape[1]
    c1 = (alpha * strength.astype(np.float64)).astype(np.float32)
    offsets = np.r_[0, np.cumsum(counts)]
    # Every rating's factor, and beside it [c1 y, 1 + c1]; one zero row last for the padded
    # lanes. gathered' weighted is then [sum c1 y y', sum (1 + c1) y] for a row.
    gathered = np.zeros((len(others) + 1, rank), dtype=np.float32)
    gathered[:-1] = matrix[pos]
    weighted = np.zeros((len(others) + 1, rank + 1), dtype=np.float32)
    weighted[:-1, :rank] = gathered[:-1] * c1[:, None]
    weighted[:-1, rank] = 1.0 + c1
    out = np.empty((len(counts), rank), dtype=np.float32)
    # rows grouped by length in quarter octaves: at most a fifth of a group is padding
    length_class = np.ceil(4 * np.log2(np.maximum(counts, 1))).astype(np.int64)
    for cls in np.unique(length_class):
        members = np.flatnonzero(length_class == cls)
        # the class's bound, not the group's longest row: a row's sums do not depend on the
        # rows it is grouped with (so neither on the chunks nor on the partitioning)
        width = max(int(np.floor(2.0 ** (cls / 4) + 1e-6)), int(counts[members].max()))
        # a group's arrays stay small (a few MB), so the worker's allocator reuses them
        step = max(1, min(GROUP_ELEMENTS // (width * rank), GROUP_ELEMENTS // (rank * rank)))
        lane = np.arange(width)
        for lo in range(0, len(members), step):
            rows = members[lo : lo + step]
            flat = offsets[rows, None] + lane[None, :]
            flat = np.where(lane[None, :] < counts[rows, None], flat, len(others))
            # one float32 product per group (exact enough: the Gram matrix and the solve are
            # float64)
            both = np.matmul(gathered[flat].transpose(0, 2, 1), weighted[flat])
            out[rows] = _solve(gram, both, reg_param * counts[rows])
    return out


def solve_rows_threaded(counts, others, strength, fixed, reg_param, alpha, threads: int):
    """:func:`solve_rows` on ``threads`` threads (numpy's products and solves release the GIL):
    the rows in slices of about equal ratings, four per thread. The same bits: a row's solve
    depends on its own ratings only."""
    if threads <= 1 or len(counts) < 2:
        return solve_rows(counts, others, strength, fixed, reg_param, alpha)
    from concurrent.futures import ThreadPoolExecutor

    budget = max(1, -(-int(counts.sum()) // (4 * threads)))
    bounds = _chunk_bounds(counts, budget)
    offsets = np.r_[0, np.cumsum(counts, dtype=np.int64)]

    def one(bound: tuple[int, int]) -> np.ndarray:
        lo, hi = bound
        a, b = offsets[lo], offsets[hi]
        return solve_rows(counts[lo:hi], others[a:b], strength[a:b], fixed, reg_param, alpha)

    with ThreadPoolExecutor(threads) as pool:
        return np.concatenate(list(pool.map(one, bounds)))


def _solve(gram: np.ndarray, both: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    """Solve ``(gram + both[:, :, :-1] + ridge I) x = both[:, :, -1]`` per row (float64)."""
    rank = gram.shape[0]
    lhs = gram + both[:, :, :rank]
    diagonal = np.arange(rank)
    lhs[:, diagonal, diagonal] += ridge[:, None]
    rhs = both[:, :, rank].astype(np.float64)
    try:
        return np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # reg_param 0 and too few ratings: least-norm solutions
        return np.stack(
            [np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(lhs, rhs, strict=True)]
        )


def _solve_chunks(fixed, reg_param: float, alpha: float):
    def solve(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        structure = fixed.value
        for pdf in batches:
            for _, row in pdf.iterrows():
                keys, counts, others, strength = _csr(row)
                factors = solve_rows(counts, others, strength, structure, reg_param, alpha)
                yield _factor_row(keys, factors)

    return solve


def _explode(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for pdf in batches:
        for _, row in pdf.iterrows():
            ids = np.frombuffer(row["ids"], np.int32)
            matrix = np.frombuffer(row["matrix"], np.float32).reshape(row["rows"], row["dim"])
            yield pd.DataFrame({"id": ids, S.FEATURES: list(matrix)})


def _ship(spark, frame: DataFrame):
    """The factors of ``frame`` for the executors, with their Gram matrix. Without a scratch
    folder the driver gathers them partition by partition, so they are computed first, in
    parallel, and cached until gathered."""
    gather = ship.Gather(frame, partial(_unpack_matrix, "id", np.float32))
    if ship.scratch_root() is not None or frame.is_cached:
        return ship.ship(spark, [gather], _with_gram)
    frame.persist()
    try:
        frame.count()
        return ship.ship(spark, [gather], _with_gram)
    finally:
        frame.unpersist()


_ONE_TASK_SCHEMA = T.StructType(
    [T.StructField("side", T.StringType(), False), *_CHUNK_SCHEMA.fields]
)


def _fit_in_one_task(
    rank: int, seed: int, iterations: int, reg_param: float, alpha: float, threads: int
):
    """mapInPandas over one partition holding every rating: the whole fit in this task (on
    ``threads`` threads), one row of factors per side (``side``: user or song)."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        frames = [pdf for pdf in batches if len(pdf)]
        if not frames:
            return
        pdf = pd.concat(frames, ignore_index=True)
        users, songs = pdf[S.USER].to_numpy(np.int32), pdf[S.SONG].to_numpy(np.int32)
        by_user = _to_csr(users, songs, pdf["preference"])
        by_song = _to_csr(songs, users, pdf["preference"])
        x = initial_factors(by_user[0], rank, seed)
        solve = partial(solve_rows_threaded, reg_param=reg_param, alpha=alpha, threads=threads)
        for _ in range(iterations):
            y = solve(*by_song[1:], _with_gram((by_user[0], x)))
            x = solve(*by_user[1:], _with_gram((by_song[0], y)))
        yield _factor_row(by_user[0], x).assign(side="user")
        yield _factor_row(by_song[0], y).assign(side="song")

    return run


def executor_cores(spark) -> int:
    """The cores of one executor: N for ``local[N]`` (``local[*]``: this machine's),
    the middle figure of ``local-cluster[workers, cores, memory]``, else
    ``spark.executor.cores`` (1 when unset)."""
    import os
    import re

    master = spark.sparkContext.master
    local = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\s*\d+)?\])?", master)
    if local:
        given = local.group(1) or "1"
        return (os.cpu_count() or 1) if given == "*" else int(given)
    cluster = re.fullmatch(r"local-cluster\[\s*\d+\s*,\s*(\d+)\s*,.*\]", master)
    if cluster:
        return int(cluster.group(1))
    return int(spark.sparkContext.getConf().get("spark.executor.cores", "1"))


def executors(spark) -> int:
    """The executors the application has now (1 in local mode, where the driver is one)."""
    status = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    return 1 if spark.sparkContext.master.startswith("local[") else max(1, status - 1)


def one_task_limit(spark, per_executor: int) -> int:
    """The most ratings a fit runs in one task: ``als.one_task_max_ratings`` with one executor
    (where spreading the fit over more tasks adds jobs but no cores), shared out among the
    executors when there are more (a distributed fit then gains their cores)."""
    return per_executor // executors(spark)


def fit_in_one_task(prefs: DataFrame, als_cfg: AlsConfig) -> tuple[DataFrame, DataFrame]:
    """:func:`fit` for few ratings (at most ``als.one_task_max_ratings``): every rating in one
    task, which runs all the iterations on the cores of its executor (``als.one_task_threads``),
    so the fit is one Spark job with no other task beside it; the same factors."""
    threads = als_cfg.one_task_threads or executor_cores(prefs.sparkSession)
    reg, alpha = float(als_cfg.reg_param), float(als_cfg.alpha)
    run = _fit_in_one_task(als_cfg.rank, als_cfg.seed, als_cfg.max_iter, reg, alpha, threads)
    both = prefs.repartition(1).mapInPandas(run, _ONE_TASK_SCHEMA)
    final = _level(als_cfg.final_storage_level)
    if final is not None:
        both = both.persist(final)
    if both.count() == 0:
        both.unpersist()
        raise ModelError("ALS has no ratings to fit")
    return tuple(
        both.where(F.col("side") == side)
        .drop("side")
        .mapInPandas(_explode, _FACTOR_SCHEMA)
        .withColumnRenamed("id", column)
        for side, column in (("user", S.USER), ("song", S.SONG))
    )


def _level(name: str):
    """PySpark's storage level for a configured name (Python data is always serialised, so
    ``*_SER`` is the plain level; ``NONE``: None, not persisted)."""
    from pyspark import StorageLevel

    return None if name == "NONE" else getattr(StorageLevel, name.removesuffix("_SER"))


def fit(prefs: DataFrame, als_cfg: AlsConfig) -> tuple[DataFrame, DataFrame]:
    """``(user factors (user_idx, features), item factors (song_idx, features))`` of implicit
    ALS on ``prefs (user_idx, song_idx, preference)``, cached until the caller releases them
    (:func:`recsys.models.als.released_rdds`); the packed ratings are released here."""
    limit = one_task_limit(prefs.sparkSession, als_cfg.one_task_max_ratings)
    if limit and prefs.limit(limit + 1).count() <= limit:
        return fit_in_one_task(prefs, als_cfg)
    spark = prefs.sparkSession
    level, final = _level(als_cfg.intermediate_storage_level), _level(als_cfg.final_storage_level)
    by_user = csr_chunks(prefs, S.USER, S.SONG, als_cfg.num_user_blocks).persist(level)
    by_song = csr_chunks(prefs, S.SONG, S.USER, als_cfg.num_item_blocks).persist(level)
    reg, alpha = float(als_cfg.reg_param), float(als_cfg.alpha)
    try:
        if by_user.count() == 0:
            raise ModelError("ALS has no ratings to fit")
        by_song.count()
        init = _init_chunks(als_cfg.rank, als_cfg.seed)
        fixed = _ship(spark, by_user.mapInPandas(init, _CHUNK_SCHEMA))
        for iteration in range(als_cfg.max_iter):
            last = iteration == als_cfg.max_iter - 1
            songs = by_song.mapInPandas(_solve_chunks(fixed, reg, alpha), _CHUNK_SCHEMA)
            if last and final is not None:
                songs = songs.persist(final)
            shipped_songs = _ship(spark, songs)
            if not last:
                topn.destroy_broadcast(fixed)
            users = by_user.mapInPandas(_solve_chunks(shipped_songs, reg, alpha), _CHUNK_SCHEMA)
            if last:  # the last two structures stay: the returned frames' tasks name them
                if final is not None:
                    users = users.persist(final)
                    users.count()
            else:
                fixed = _ship(spark, users)
                topn.destroy_broadcast(shipped_songs)
    finally:
        by_user.unpersist()
        by_song.unpersist()
    return (
        users.mapInPandas(_explode, _FACTOR_SCHEMA).withColumnRenamed("id", S.USER),
        songs.mapInPandas(_explode, _FACTOR_SCHEMA).withColumnRenamed("id", S.SONG),
    )
