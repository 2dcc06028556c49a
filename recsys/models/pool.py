"""The hybrid's candidate pool, one block of users at a time in numpy over catalogue structures.

A user's candidates are the neighbours of their seed songs (:mod:`recsys.models.candidates`
gives the rules), their ALS list and their item-based list. Joined row by row in Spark this is
``seeds x neighbours`` rows (at the full Taste Profile about 10M seeds x 40 neighbours, 400M
rows shuffled by seed and then by user). Here nothing of that size is ever a row: the
catalogue-sized structures are built once per Python worker (shipped by
:mod:`recsys.similarity.ship`; without a scratch folder, gathered on the driver and broadcast)
as one :class:`PoolIndex` (the neighbour lists as CSR arrays by seed, the ALS item factors and the
content vectors as dense float32 matrices by ``song_idx``; with the item-based model, its
co-play lists also as a sparse matrix), and each user row (played songs, seeds with their
weights, the ALS list, the user's factors, alpha) is expanded, grouped and scored inside its
block, the item-based list included (:func:`coplay_lists`). The only shuffle is the users'
inputs, once, by user (:func:`recsys.models.user_rows.pool_rows`; in contiguous ranges of
users for the hybrid's tables, which then need no shuffle to be written clustered by user).

The result equals the row-wise Spark formulation's (``tests/reference_pool.py`` keeps it and
the tests compare both): dot products in double precision summed in the order Spark's
``aggregate`` sums them, the min-max normalisation in the column's own precision as Spark's
arithmetic does for a float or a double column. Sums over a user's seeds (the content profile
and the content hit scores) run in a fixed order (the profile in seed order, a hit's score by
kind, contribution and seed), Spark's in the shuffle's: the two may differ in their last bits,
which is all the tests allow. A (user, song) listed twice is pooled once.

Memory: the index is held once by every Python worker that scores (see the README's hybrid
section for its size); a block is at most 2048 users and ``budget`` seed-neighbour pairs
and played songs' co-play pairs (2M: about 60 MB of working arrays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import FactorError
from recsys.models.candidates import COPLAY, KIND, SEED
from recsys.ordering import descending, ids, member, order_by, ranked_order
from recsys.similarity.gather import gather_columns
from recsys.similarity.ship import Gather
from recsys.similarity.topn import gather_item_matrix, register_broadcast

CONTENT, CF, CO = 0, 1, 2  # neighbour kinds in the index
_KINDS = {"content": CONTENT, "cf": CF, COPLAY: CO}
_KEY = np.int64(1) << 31  # key = row * _KEY + song_idx: unique per (row in block, song)

PLAYED, SEEDS, WEIGHTS = "_played", "_seeds", "_weights"
CF_SONGS, CF_SCORES, ITEM_SONGS, ITEM_SCORES, UF = "_cf", "_cfs", "_it", "_its", "_uf"

POOL_SCHEMA = T.StructType(
    [
        T.StructField(S.USER, T.IntegerType(), False),
        T.StructField(S.SONG, T.IntegerType(), False),
        T.StructField(S.CF_SCORE, T.FloatType(), False),
        T.StructField(S.CONTENT_SCORE, T.FloatType(), False),
        T.StructField(S.ITEM_SCORE, T.FloatType(), False),
        T.StructField(S.ALPHA, T.FloatType(), True),
        T.StructField(S.REASON_SONG, T.IntegerType(), True),
    ]
)


@dataclass(frozen=True)
class PoolIndex:
    """What every block reads: neighbours of song ``s`` are positions
    ``indptr[s]:indptr[s + 1]`` of ``neighbour``/``similarity``/``kind``; ``factors[s]`` and
    ``vectors[s]`` are song ``s``'s ALS factors and content vector where ``has_factor[s]`` /
    ``has_vector[s]`` (``None`` matrices: the pool is built without that signal)."""

    indptr: np.ndarray
    neighbour: np.ndarray
    similarity: np.ndarray
    kind: np.ndarray
    factors: np.ndarray | None = None
    has_factor: np.ndarray | None = None
    vectors: np.ndarray | None = None
    has_vector: np.ndarray | None = None
    coplay: sp.csr_matrix | None = None  # the item-based model's W (co-play lists), float64

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def build(
        cls, seed, neighbour, similarity, kind, factors=None, vectors=None, coplay_lists=False
    ) -> PoolIndex:
        """From flat neighbour lists and ``(ids, matrix)`` pairs of factors and vectors; with
        ``coplay_lists`` the co-play lists also as the matrix the item-based lists are scored
        from (:func:`coplay_lists`)."""
        ids = [np.asarray(seed), np.asarray(neighbour)]
        ids += [m[0] for m in (factors, vectors) if m is not None]
        n = int(max((int(a.max()) + 1 for a in ids if a.size), default=0))
        seed = np.asarray(seed, dtype=np.int64)
        order = np.argsort(seed, kind="stable")
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(seed, minlength=n), out=indptr[1:])
        dense = [_dense(m, n) for m in (factors, vectors)]
        neighbour = np.asarray(neighbour, dtype=np.int32)[order]
        similarity = np.asarray(similarity, dtype=np.float32)[order]
        kind = np.asarray(kind, dtype=np.int8)[order]
        coplay = None
        if coplay_lists:
            co = kind == CO
            coplay = sp.csr_matrix(
                (similarity[co].astype(np.float64), (seed[order][co], neighbour[co])), shape=(n, n)
            )
        return cls(indptr, neighbour, similarity, kind, *dense[0], *dense[1], coplay)


def _dense(pair, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    if pair is None:
        return None, None
    ids, matrix = pair
    dense = np.zeros((n, matrix.shape[1] if matrix.ndim == 2 else 0), dtype=np.float32)
    present = np.zeros(n, dtype=bool)
    dense[ids], present[ids] = matrix, True
    return dense, present


def index_parts(
    relation: DataFrame,
    item_factors,
    content_vectors,
    played: DataFrame | None = None,
    coplay_lists: bool = False,
) -> tuple[list[Gather], Callable[..., PoolIndex]]:
    """What a :class:`PoolIndex` is built from: the neighbour relation (``seed_idx, song_idx,
    similarity, kind``; with ``played``, the interactions, only the lists of played songs) and,
    when given, the item factors and content vectors (``song_idx, features``), as gathers and
    the function building the index from their values (with ``coplay_lists``, one that scores
    the item-based lists: :func:`coplay_lists`)."""
    code = F.lit(None)
    for name, value in _KINDS.items():
        code = F.when(F.col(KIND) == name, F.lit(value)).otherwise(code)
    if played is not None:  # only a played song is ever a seed: no other song's list is read
        seeds = played.select(F.col(S.SONG).alias(SEED)).distinct()
        relation = relation.join(seeds, SEED, "left_semi")
    parts = [
        gather_columns(
            relation.select(SEED, S.SONG, S.SIMILARITY, code.cast("byte").alias(KIND)),
            {SEED: "int32", S.SONG: "int32", S.SIMILARITY: "float32", KIND: "int8"},
        )
    ]
    parts += [gather_item_matrix(m) for m in (item_factors, content_vectors) if m is not None]
    has = (item_factors is not None, content_vectors is not None)
    return parts, partial(_build_index, *has, coplay_lists)


def _build_index(has_factors: bool, has_vectors: bool, coplay: bool, flat, *matrices):
    rest = iter(matrices)
    factors = next(rest) if has_factors else None
    vectors = next(rest) if has_vectors else None
    return PoolIndex.build(
        flat[SEED], flat[S.SONG], flat[S.SIMILARITY], flat[KIND], factors, vectors, coplay
    )


def pool_index(
    relation: DataFrame,
    item_factors,
    content_vectors,
    played: DataFrame | None = None,
    coplay_lists: bool = False,
) -> PoolIndex:
    """The :class:`PoolIndex` of :func:`index_parts`, gathered on the driver."""
    parts, build = index_parts(relation, item_factors, content_vectors, played, coplay_lists)
    return build(*(part.collect() for part in parts))


# ----------------------------------------------------------------------------- numpy core


def _flat(cells, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, concatenation) of a column of arrays (None counts as empty)."""
    lengths = np.fromiter((0 if c is None else len(c) for c in cells), np.int64, len(cells))
    parts = [np.asarray(c, dtype=dtype) for c in cells if c is not None and len(c)]
    return lengths, (np.concatenate(parts) if parts else np.zeros(0, dtype=dtype))


def _rows(lengths: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray):
    """``(found, value)`` of each ``query`` key in the sorted unique ``keys``."""
    if keys.size == 0:
        return np.zeros(query.size, dtype=bool), np.zeros(query.size, dtype=values.dtype)
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return keys[pos] == query, values[pos]


def dot_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products in double precision, summed left to right from 0.0 as
    ``recsys.columns.dot`` does in Spark."""
    products = a.astype(np.float64)  # each product in double, as before: one pass, no
    products *= b  # conversion per column (the same values to the bit)
    acc = np.zeros(a.shape[0], dtype=np.float64)
    for j in range(a.shape[1]):
        acc += products[:, j]
    return acc


def dot_gathered(a: np.ndarray, ia: np.ndarray, b: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """``dot_rows(a[ia], b[ib])`` gathered in chunks of rows small enough to stay in the CPU's
    cache (4,096 rows at 32 dimensions: 2.3x faster than 128K-row chunks on this machine)."""
    out = np.empty(ia.size, dtype=np.float64)
    step = max(1, 2**17 // max(1, a.shape[1]))
    for start in range(0, ia.size, step):
        stop = start + step
        out[start:stop] = dot_rows(a[ia[start:stop]], b[ib[start:stop]])
    return out


def minmax_rows(value: np.ndarray, present: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``value`` rescaled to [0, 1] within each row segment (``starts``), 1.0 where the
    segment's present values are all equal, 0.0 where absent; float32.

    As Spark computes ``(v - lo) / (hi - lo)`` on the column: the differences in the column's
    own precision, the division in double.
    """
    out = np.zeros(value.size, dtype=np.float32)
    if value.size == 0:
        return out
    lo = np.minimum.reduceat(np.where(present, value, np.inf).astype(value.dtype), starts)
    hi = np.maximum.reduceat(np.where(present, value, -np.inf).astype(value.dtype), starts)
    seg = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, value.size]))
    lo, hi = lo[seg], hi[seg]
    spread = hi > lo
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = (value - lo).astype(np.float64) / (hi - lo).astype(np.float64)
    out[present] = np.where(spread, scaled, 1.0)[present].astype(np.float32)
    return out


@dataclass
class Hits:
    """A block's seed-neighbour hits grouped by (row, song): sorted ``key``, the summed content
    contribution (``has_content`` where a content neighbour reached it) and the reason seed."""

    key: np.ndarray
    content: np.ndarray
    has_content: np.ndarray
    reason: np.ndarray


def seed_pairs(index: PoolIndex, rows, seeds, weights):
    """Every (row, neighbour song, seed, contribution, kind) of the block's seeds' lists."""
    ok = seeds < index.n
    rows, seeds, weights = rows[ok], seeds[ok], weights[ok]
    starts = index.indptr[seeds]
    counts = index.indptr[seeds + 1] - starts
    offs = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    offs += np.repeat(starts, counts)
    row, song = np.repeat(rows, counts), index.neighbour[offs].astype(np.int64)
    contribution = index.similarity[offs].astype(np.float64) * np.repeat(weights, counts)
    return row, song, np.repeat(seeds, counts), contribution, index.kind[offs]


def seed_hits_block(index: PoolIndex, rows, seeds, weights, played_key) -> Hits:
    """:func:`recsys.models.candidates.seed_hits` for one block, from its flat seeds."""
    row, song, seed, contribution, kind = seed_pairs(index, rows, seeds, weights)
    if row.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Hits(empty, np.zeros(0), np.zeros(0, dtype=bool), empty)
    # the reason: the largest contribution through an ALS or content neighbour (ties: the
    # smaller seed), else through a co-play one; one argsort of packed keys (recsys.ordering)
    order = order_by(
        ids(row),
        (song, index.n),
        ((kind == CO).astype(np.int64), 2),
        descending(contribution),
        (seed, index.n),
    )
    key = row[order] * _KEY + song[order]
    seed, contribution, kind = seed[order], contribution[order], kind[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    is_content = kind == CONTENT
    content = np.add.reduceat(np.where(is_content, contribution, 0.0), first)
    has_content = np.add.reduceat(is_content.astype(np.int64), first) > 0
    # played songs are no candidates: their groups are dropped whole (sorted keys, so the
    # look-up walks the played keys in order)
    key, seed = key[first], seed[first]
    keep = ~member(key, np.sort(played_key))
    return Hits(key[keep], content[keep], has_content[keep], seed[keep])


def top_content(hits: Hits, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted keys, content sums) of each row's ``depth`` best content hits (ties: smaller
    song id)."""
    key, value = hits.key[hits.has_content], hits.content[hits.has_content]
    row, song = np.divmod(key, _KEY)
    order = ranked_order(ids(row), value, ids(song))
    row, key, value = row[order], key[order], value[order]
    rank = np.arange(row.size) - np.searchsorted(row, row, side="left")
    keep = rank < depth
    key, value = key[keep], value[keep]
    order = np.argsort(key, kind="stable")
    return key[order], value[order]


def coplay_lists(index: PoolIndex, b: int, p_row, p_song, depth: int):
    """(sorted keys, float32 scores) of each row's item-based list: the ``depth`` best unplayed
    songs by the summed co-play weights of the songs it played (ties: smaller song id),
    positive scores only. The sums are :func:`recsys.models.itemknn.score_block`'s, to the
    bit: the same sparse product, each row's played songs in ascending id."""
    n = index.n
    known = p_song < n
    x = sp.csr_matrix(
        (np.ones(int(known.sum())), (p_row[known], p_song[known])), shape=(b, n), dtype=np.float64
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    scores = (x @ index.coplay).tocoo()
    rows, cols = scores.row.astype(np.int64), scores.col.astype(np.int64)
    values = scores.data.astype(np.float32)  # ranked as the model writes them
    keep = (values > 0) & ~member(rows * _KEY + cols, np.sort(p_row * _KEY + p_song))
    rows, cols, values = rows[keep], cols[keep], values[keep]
    order = ranked_order(ids(rows), values, ids(cols))
    rows, cols, values = rows[order], cols[order], values[order]
    top = np.arange(rows.size) - np.searchsorted(rows, rows, side="left") < depth
    key, values = rows[top] * _KEY + cols[top], values[top]
    order = np.argsort(key, kind="stable")
    return key[order], values[order]


def _list_keys(lengths, songs, scores):
    key = _rows(lengths) * _KEY + songs
    order = np.argsort(key, kind="stable")
    return key[order], scores[order]


def profiles(index: PoolIndex, b: int, rows, seeds, weights) -> tuple[np.ndarray, np.ndarray]:
    """(b, dim) play-weighted sums of each row's seeds' content vectors, and which rows have
    one (a seed with a vector)."""
    ok = seeds < index.n
    ok[ok] = index.has_vector[seeds[ok]]
    rows, seeds, weights = rows[ok], seeds[ok], weights[ok]  # rows ascending
    out = np.zeros((b, index.vectors.shape[1]), dtype=np.float64)
    if rows.size:
        first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        weighted = index.vectors[seeds].astype(np.float64) * weights[:, None]
        out[rows[first]] = np.add.reduceat(weighted, first, axis=0)
    return out, np.bincount(rows, minlength=b) > 0


def pool_block(part: pd.DataFrame, index: PoolIndex, depth: int) -> pd.DataFrame:
    """The scored pool of one block of user rows (the grouped columns of
    :func:`recsys.models.user_rows.pool_rows`)."""
    b = len(part)
    p_len, p_song = _flat(part[PLAYED], np.int64)
    s_len, s_song = _flat(part[SEEDS], np.int64)
    _, s_weight = _flat(part[WEIGHTS], np.float64)
    s_row = _rows(s_len)
    hits = seed_hits_block(index, s_row, s_song, s_weight, _rows(p_len) * _KEY + p_song)
    ct_key, ct_value = top_content(hits, depth)
    c_len, c_song = _flat(part[CF_SONGS], np.int64)
    cf_key, cf_value = _list_keys(c_len, c_song, _flat(part[CF_SCORES], np.float32)[1])
    if index.coplay is not None:  # the item-based lists scored here, from the plays
        it_key, it_value = coplay_lists(index, b, _rows(p_len), p_song, depth)
    else:
        i_len, i_song = _flat(part[ITEM_SONGS], np.int64)
        it_key, it_value = _list_keys(i_len, i_song, _flat(part[ITEM_SCORES], np.float32)[1])
    key = np.sort(np.concatenate([cf_key, ct_key, it_key]))
    key = key[np.r_[True, key[1:] != key[:-1]]] if key.size else key
    row, song = np.divmod(key, _KEY)
    if index.factors is not None:  # every pooled song scored by both halves
        cf_raw, cf_ok = _cf_scores(index, part, row, song)
        prof, has_prof = profiles(index, b, s_row, s_song, s_weight)
        ok = has_prof[row] & _has(index.has_vector, song)
        content_raw = np.zeros(key.size, dtype=np.float64)
        content_raw[ok] = dot_gathered(prof, row[ok], index.vectors, song[ok])
    else:  # each keeps only the score of the list that proposed it
        cf_ok, cf_raw = _lookup(cf_key, cf_value, key)
        ok, content_raw = _lookup(ct_key, ct_value, key)
    item_ok, item_raw = _lookup(it_key, it_value, key)
    has_reason, reason = _lookup(hits.key, hits.reason, key)
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if key.size else row
    alpha = part[S.ALPHA].to_numpy(dtype=np.float32)[row]
    return pd.DataFrame(
        {
            S.USER: part[S.USER].to_numpy(dtype=np.int32)[row],
            S.SONG: song.astype(np.int32),
            S.CF_SCORE: minmax_rows(cf_raw, cf_ok, starts),
            S.CONTENT_SCORE: minmax_rows(content_raw, ok, starts),
            S.ITEM_SCORE: minmax_rows(item_raw, item_ok, starts),
            S.ALPHA: alpha,
            S.REASON_SONG: _nullable_int(reason, has_reason),
        }
    )


def _nullable_int(values: np.ndarray, present: np.ndarray) -> pd.arrays.IntegerArray:
    out = pd.array(np.where(present, values, 0).astype(np.int32), dtype="Int32")
    out[~present] = pd.NA
    return out


def _has(mask: np.ndarray, song: np.ndarray) -> np.ndarray:
    ok = song < mask.size
    ok[ok] = mask[song[ok]]
    return ok


def _cf_scores(index: PoolIndex, part: pd.DataFrame, row, song):
    uf = part[UF].to_numpy()
    has_uf = np.fromiter((u is not None and len(u) > 0 for u in uf), bool, len(uf))
    ok = has_uf[row] & _has(index.has_factor, song)
    out = np.zeros(row.size, dtype=np.float64)
    if ok.any():
        widths = {len(u) for u in uf[has_uf]} - {index.factors.shape[1]}
        if widths:
            raise FactorError(
                f"user factors of length {sorted(widths)}, item factors "
                f"{index.factors.shape[1]}: the factor tables come from different ALS models"
            )
        users = np.zeros((len(uf), index.factors.shape[1]), dtype=np.float32)
        users[has_uf] = np.stack([np.asarray(u, dtype=np.float32) for u in uf[has_uf]])
        out[ok] = dot_gathered(users, row[ok], index.factors, song[ok])
    return out, ok


def block_bounds(cost: np.ndarray, budget: int, max_rows: int = 2048) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` row ranges of at most ``max_rows`` rows whose summed
    ``cost`` stays within ``budget`` (a row costing more than the budget is a block of its
    own)."""
    bounds, start, total = [], 0, 0
    for i, c in enumerate(cost.tolist()):
        if i > start and (total + c > budget or i - start >= max_rows):
            bounds.append((start, i))
            start, total = i, 0
        total += c
    if start < len(cost):
        bounds.append((start, len(cost)))
    return bounds


def _list_pairs(indptr: np.ndarray, lengths: np.ndarray, songs: np.ndarray) -> np.ndarray:
    """Per row, the summed lengths of its ``songs``' lists in the CSR ``indptr``."""
    per_song = np.zeros(songs.size, dtype=np.int64)
    ok = songs < indptr.size - 1
    per_song[ok] = indptr[songs[ok] + 1] - indptr[songs[ok]]
    return np.bincount(_rows(lengths), per_song, minlength=lengths.size).astype(np.int64)


def _score_partitions(broadcast, depth: int, budget: int, finish=None):
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        value = broadcast.value
        index: PoolIndex = value[0] if isinstance(value, tuple) else value
        for pdf in batches:
            cost = _list_pairs(index.indptr, *_flat(pdf[SEEDS], np.int64)) + 1
            if index.coplay is not None:  # and the played songs' co-play lists
                cost += _list_pairs(index.coplay.indptr, *_flat(pdf[PLAYED], np.int64))
            for start, stop in block_bounds(cost, budget):
                out = pool_block(pdf.iloc[start:stop], index, depth)
                if finish is not None and len(out):
                    out = finish(out, value, pdf.iloc[start:stop])
                if len(out):
                    yield out

    return score


# ----------------------------------------------------------------------------- Spark side


def scored_pool(
    rows: DataFrame,
    broadcast,
    depth: int,
    budget: int = 1 << 21,
    finish=None,
    schema=None,
    extra: tuple[str, ...] = (),
) -> DataFrame:
    """The pool (``POOL_SCHEMA``) of :func:`recsys.models.user_rows.pool_rows`, scored block by
    block against the broadcast :class:`PoolIndex`; ``budget`` bounds the seed-neighbour pairs
    of one block.

    With ``finish(pool, value, part)`` each block's pool becomes what it returns
    (``schema``'s columns): ``value`` is the broadcast's, a tuple whose first item is the
    index, ``part`` the block's user rows (with the ``extra`` columns of ``rows``)."""
    cols = [S.USER, PLAYED, SEEDS, WEIGHTS, CF_SONGS, CF_SCORES, ITEM_SONGS, ITEM_SCORES, UF]
    return rows.select(*cols, S.ALPHA, *extra).mapInPandas(
        _score_partitions(broadcast, depth, budget, finish), schema or POOL_SCHEMA
    )


def broadcast_index(spark, index):
    """Broadcast ``index`` (a :class:`PoolIndex`, or a tuple led by one), destroyed by
    :func:`recsys.similarity.topn.release_broadcasts`."""
    return register_broadcast(spark.sparkContext.broadcast(index))
