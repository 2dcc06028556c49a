"""The blend fit's grid scored inside the hybrid's scoring blocks, without the pool as a table.

Ranked in Spark, every grid point is a copy of the validation users' pool (the pool cross
joined with the grid), ranked by three windows and scored by the metric's joins: at 8M
triplets the two grid queries were 40% of the fit's shuffled bytes. Here each block of
validation users (:mod:`recsys.models.pool`) scores its pool once, adds the catalogue's
popularity and artist (:func:`recsys.models.ranked_pool.with_catalogue`), ranks it with
:func:`recsys.models.blend.rerank` once per point (the rules
:func:`recsys.models.hybrid.rank_candidates` follows; the tests check the two agree) and
scores each list against the user's hidden songs, which travel with the user's row
(``HIDDEN``). What leaves a block is one row per (user, point): the metric as a fixed-point
integer (``round(value * 2**40)``), so the sums per point are exact and the same in any
order, where floating-point sums in a shuffle's order are not.

The metric is :mod:`recsys.evaluation.metrics`' (precision, recall, NDCG and MAP at K, sums
taken in position order, ``log2`` as ``ln(x) / ln(2)`` as Spark computes it); a user whose
pool is empty gets no row and counts 0, as there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.models.blend import rerank
from recsys.models.pool import scored_pool
from recsys.models.ranked_pool import with_catalogue

HIDDEN = "_hidden"  # the user's distinct hidden songs, on the user's pool row
POINT, FIXED = "_point", "_fixed"
SCALE = float(1 << 40)  # the fixed point: sums of a million values in [0, 1] fit in a long

GRID_SCHEMA = T.StructType(
    [
        T.StructField(S.USER, T.IntegerType(), False),
        T.StructField(POINT, T.IntegerType(), False),
        T.StructField(FIXED, T.LongType(), False),
    ]
)
_LN2 = np.log(2.0)


@dataclass(frozen=True)
class Point:
    """One blend: ``alpha`` None ranks with each user's own (the pool rows' alpha)."""

    alpha: float | None
    popularity_exponent: float
    item_weight: float
    popularity_weight: float


@dataclass(frozen=True)
class Grid:
    """The points and the rules every point's lists follow: ``depth`` deep (the metric reads
    the first ``k``), the novelty, artist cap and cold slots of production."""

    points: tuple[Point, ...]
    depth: int
    novelty: float
    max_per_artist: int
    cold_slots: int
    metric: str
    k: int


def _log2(x: np.ndarray) -> np.ndarray:
    return np.log(x) / _LN2


def user_metric(
    users: np.ndarray,
    n_relevant: np.ndarray,
    hidden_key: np.ndarray,
    ranked: pd.DataFrame,
    metric: str,
    k: int,
) -> np.ndarray:
    """The metric at ``k`` of each of ``users`` (block rows 0..b-1 with ``n_relevant`` hidden
    songs, ``hidden_key`` the sorted keys ``row * 2**31 + song``) on ``ranked`` (rows with
    the block row in ``_row``, ``song_idx`` and ``rank``, ranks 1, 2, ... per user)."""
    b = users.size
    rank = ranked[S.RANK].to_numpy(dtype=np.int64)
    top = rank <= k
    row = ranked["_row"].to_numpy(dtype=np.int64)[top]
    rank = rank[top]
    key = row * (np.int64(1) << 31) + ranked[S.SONG].to_numpy(dtype=np.int64)[top]
    pos = np.minimum(np.searchsorted(hidden_key, key), max(hidden_key.size - 1, 0))
    hit = np.zeros((b, k), dtype=bool)
    if hidden_key.size:
        hit[row, rank - 1] = hidden_key[pos] == key
    n_rel = n_relevant.astype(np.float64)
    n_hits = hit.sum(axis=1).astype(np.float64)
    if metric == "precision":
        return n_hits / k
    if metric == "recall":
        return _divide(n_hits, n_rel)
    dcg, ideal, ap, seen = (np.zeros(b) for _ in range(4))
    for j in range(k):  # in position order, from 0.0, as Spark's aggregate sums
        p = j + 1
        gain = 1.0 / _log2(np.float64(p + 1))
        dcg += np.where(hit[:, j], gain, 0.0)
        ideal += np.where(p <= np.minimum(n_rel, k), gain, 0.0)
        seen += hit[:, j]
        ap += np.where(hit[:, j], seen / p, 0.0)
    if metric == "ndcg":
        return _divide(dcg, ideal)
    return _divide(ap, np.minimum(n_rel, k))


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b > 0)
    return out


def score_block(pool: pd.DataFrame, value, part: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """``GRID_SCHEMA`` rows of one block: each user's metric at every grid point."""
    _, catalogue = value
    users = part[S.USER].to_numpy(dtype=np.int64)
    order = np.argsort(users, kind="stable")
    pool = with_catalogue(pool, catalogue)
    pool["_row"] = order[np.searchsorted(users[order], pool[S.USER].to_numpy(np.int64))]
    lengths = np.fromiter((0 if h is None else len(h) for h in part[HIDDEN]), np.int64, len(part))
    songs = [np.asarray(h, dtype=np.int64) for h in part[HIDDEN] if h is not None and len(h)]
    hidden = np.concatenate(songs) if songs else np.zeros(0, dtype=np.int64)
    hidden_key = np.sort(np.repeat(np.arange(len(part)), lengths) * (np.int64(1) << 31) + hidden)
    out = []
    for i, p in enumerate(grid.points):
        ranked = rerank(
            pool,
            p.alpha,
            grid.novelty,
            grid.max_per_artist,
            grid.depth,
            p.popularity_exponent,
            grid.cold_slots,
            p.item_weight,
            p.popularity_weight,
        )
        values = user_metric(users, lengths, hidden_key, ranked, grid.metric, grid.k)
        out.append(
            pd.DataFrame(
                {
                    S.USER: users.astype(np.int32),
                    POINT: np.full(users.size, i, dtype=np.int32),
                    FIXED: np.rint(values * SCALE).astype(np.int64),
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def grid_values(rows: DataFrame, broadcast, grid: Grid, pool_depth: int) -> DataFrame:
    """``(user_idx, _point, _fixed)`` for every user of ``rows`` (pool rows with ``HIDDEN``)
    and point of ``grid``, scored against ``broadcast`` (a ``(PoolIndex, Catalogue)`` pair)
    with pools ``pool_depth`` deep."""

    def finish(pool: pd.DataFrame, value, part: pd.DataFrame) -> pd.DataFrame:
        return score_block(pool, value, part, grid)

    return scored_pool(
        rows, broadcast, pool_depth, finish=finish, schema=GRID_SCHEMA, extra=(HIDDEN,)
    )
