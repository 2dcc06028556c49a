"""Item-based collaborative filtering on co-plays: user scores in blocked sparse products.

A user's score for a song ``j`` is the sum, over the songs ``i`` they played, of ``s_ij`` where
``j`` is among ``i``'s top-K co-play neighbours (:mod:`recsys.similarity.coplay`), zero
elsewhere. The neighbour lists are catalogue-sized (K entries per song: 384K x 50 x 8 bytes,
about 150 MB at full scale with int32 ids and float32 weights) and are gathered once on the
driver into CSR arrays and broadcast. Users stay distributed: each ``mapInPandas`` task turns
the weights into one ``(songs x songs)`` float64 sparse matrix ``W`` and scores blocks of
``block_size`` users as one sparse product ``X_block @ W`` (``X_block`` the block's binary
plays), drops the played songs and keeps each user's top N, equal scores in ascending song id.

Songs none of the user's songs points to score 0; they fill a list the scored songs leave short,
in ascending song id like every other tie, so a list has ``n`` songs whenever the catalogue (the
songs of the fitted interactions) holds that many the user has not played. A blend that wants
only evidence drops the rows with ``score == 0``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import ModelError
from recsys.models.base import Recommender, check_n
from recsys.ordering import ids, member, order_by, ranked_order
from recsys.similarity import coplay
from recsys.similarity.gather import gather_columns
from recsys.similarity.ship import Gather, ship
from recsys.similarity.topn import EXCLUDE, destroy_broadcast, played_songs, scoring_partitions

if TYPE_CHECKING:
    from recsys.config import ItemKnnConfig

_FILL_CELLS = 1 << 24  # cells of one zero-score fill matrix (bool): 16 MB


@dataclasses.dataclass(frozen=True)
class NeighbourIndex:
    """The top-K lists as a CSR matrix over the catalogue's positions.

    ``song_ids`` ascending; row ``p`` of the matrix is song ``song_ids[p]``'s list: columns
    ``indices[indptr[p]:indptr[p + 1]]`` (positions) with weights ``weights[...]`` (float32).
    """

    song_ids: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    @classmethod
    def build(
        cls, catalogue: np.ndarray, song: np.ndarray, neighbour: np.ndarray, weight: np.ndarray
    ) -> NeighbourIndex:
        """From the catalogue's ids and the flat ``(song, neighbour, weight)`` lists."""
        song_ids = np.unique(np.concatenate([catalogue, song, neighbour]).astype(np.int32))
        rows = np.searchsorted(song_ids, song)
        cols = np.searchsorted(song_ids, neighbour)
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        indptr = np.zeros(song_ids.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=song_ids.size), out=indptr[1:])
        return cls(song_ids, indptr, cols.astype(np.int32), weight[order].astype(np.float32))

    def matrix(self) -> sp.csr_matrix:
        """``W`` in float64 (sums of float32 weights stay exact enough to rank)."""
        m = self.song_ids.size
        return sp.csr_matrix(
            (self.weights.astype(np.float64), self.indices, self.indptr), shape=(m, m)
        )


# ----------------------------------------------------------------------------- numpy core


def _played_matrix(played: list, song_ids: np.ndarray) -> sp.csr_matrix:
    """The block's binary ``(users x songs)`` plays; songs outside the catalogue dropped."""
    b, m = len(played), song_ids.size
    lengths = np.fromiter((0 if p is None else len(p) for p in played), np.int64, b)
    if not lengths.sum() or not m:
        return sp.csr_matrix((b, m), dtype=np.float64)
    flat = np.concatenate([np.asarray(p, dtype=np.int64) for p in played if p is not None])
    rows = np.repeat(np.arange(b), lengths)
    pos = np.searchsorted(song_ids, flat)
    pos_ok = np.minimum(pos, m - 1)
    known = (pos < m) & (song_ids[pos_ok] == flat)
    x = sp.csr_matrix(
        (np.ones(int(known.sum())), (rows[known], pos_ok[known])), shape=(b, m), dtype=np.float64
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    return x


def _zero_fill(
    need: np.ndarray, taken: sp.csr_matrix, song_ids: np.ndarray, start_rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row with ``need > 0``: its ``need`` smallest song positions not in ``taken``.

    Returns ``(row, position, rank)``; ranks continue from ``start_rank`` per row. A row's
    answer lies among the first ``need + taken`` positions, so only that prefix is looked at,
    in chunks of rows small enough for one boolean matrix.
    """
    m = song_ids.size
    out_rows, out_cols, out_ranks = [], [], []
    rows_needing = np.flatnonzero(need > 0)
    if not rows_needing.size or not m:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    taken_counts = np.diff(taken.indptr)
    width = int(min(m, (need + taken_counts)[rows_needing].max()))
    chunk = max(1, _FILL_CELLS // width)
    for first in range(0, rows_needing.size, chunk):  # chunks of rows, not rows
        rows = rows_needing[first : first + chunk]
        prefix = taken[rows][:, :width].tocoo()
        used = np.zeros((rows.size, width), dtype=bool)
        used[prefix.row, prefix.col] = True
        free = ~used
        order = np.cumsum(free, axis=1)
        pick = free & (order <= need[rows][:, None])
        r, c = np.nonzero(pick)
        out_rows.append(rows[r])
        out_cols.append(c)
        out_ranks.append(start_rank[rows[r]] + order[r, c])
    return np.concatenate(out_rows), np.concatenate(out_cols), np.concatenate(out_ranks)


def score_block(
    played: list, weights: sp.csr_matrix, song_ids: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top ``n`` unplayed songs of each user of a block.

    Parameters
    ----------
    played : one array of played song ids per user (None: nothing played).
    weights : ``W`` (see :meth:`NeighbourIndex.matrix`), rows and columns in ``song_ids`` order.
    song_ids : the catalogue, ascending.
    n : list length.

    Returns
    -------
    row, song_id, score, rank : flat arrays sorted by row then rank; scores (float32) descend
    within a row, equal scores in ascending song id, zero-score songs last.
    """
    b, m = len(played), song_ids.size
    x = _played_matrix(played, song_ids)
    scores = (x @ weights).tocoo()  # float64; one row's sums depend on that row alone
    rows, cols, values = scores.row.astype(np.int64), scores.col.astype(np.int64), scores.data
    played_keys = np.repeat(np.arange(b, dtype=np.int64), np.diff(x.indptr)) * m + x.indices
    values = values.astype(np.float32)  # ranked as written: equal floats are ties
    keep = (values > 0) & ~member(rows * m + cols, np.sort(played_keys))
    rows, cols, values = rows[keep], cols[keep], values[keep]
    order = ranked_order((rows, b), values, (cols, m))  # (row, col) unique: np.lexsort's order
    rows, cols, values = rows[order], cols[order], values[order]
    rank = np.arange(rows.size) - np.searchsorted(rows, rows, side="left") + 1
    top = rank <= n
    rows, cols, values, rank = rows[top], cols[top], values[top], rank[top]
    scored = np.bincount(rows, minlength=b)
    need = np.minimum(n - scored, m - np.diff(x.indptr) - scored)
    if need.max(initial=0) > 0:
        taken = (x + sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(b, m))).tocsr()
        taken.sort_indices()
        f_rows, f_cols, f_rank = _zero_fill(need, taken, song_ids, scored)
        rows = np.concatenate([rows, f_rows])
        cols = np.concatenate([cols, f_cols])
        values = np.concatenate([values, np.zeros(f_rows.size, dtype=np.float32)])
        rank = np.concatenate([rank, f_rank])
        order = order_by((rows, b), ids(rank))
        rows, cols, values, rank = rows[order], cols[order], values[order], rank[order]
    return rows, song_ids[cols], values, rank


# ----------------------------------------------------------------------------- Spark side


def index_parts(neighbours: DataFrame, interactions: DataFrame, k: int) -> list[Gather]:
    """What :func:`build_index` reads: ``neighbours``' lists (``rank <= k``) and the catalogue
    (the songs of ``interactions``), as gathers."""
    lists = gather_columns(
        neighbours.where(F.col(S.RANK) <= k),
        {S.SONG: "int32", S.NEIGHBOUR: "int32", S.SIMILARITY: "float32"},
    )
    catalogue = gather_columns(interactions.select(S.SONG).distinct(), {S.SONG: "int32"})
    return [lists, catalogue]


def build_index(lists, catalogue) -> NeighbourIndex:
    """The scoring structure over the catalogue (the songs of the interactions and of the
    lists) from :func:`index_parts`' values."""
    return NeighbourIndex.build(
        catalogue[S.SONG], lists[S.SONG], lists[S.NEIGHBOUR], lists[S.SIMILARITY]
    )


def neighbour_index(neighbours: DataFrame, interactions: DataFrame, k: int) -> NeighbourIndex:
    """The scoring structure of :func:`index_parts`, gathered on the driver."""
    return build_index(*(part.collect() for part in index_parts(neighbours, interactions, k)))


def _score_partitions(broadcast, n: int, block_size: int):
    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        index: NeighbourIndex = broadcast.value
        weights = index.matrix()  # once per task, not per block
        for pdf in batches:
            for start in range(0, len(pdf), block_size):
                part = pdf.iloc[start : start + block_size]
                rows, songs, scores, ranks = score_block(
                    list(part[EXCLUDE]), weights, index.song_ids, n
                )
                yield pd.DataFrame(
                    {
                        S.USER: part[S.USER].to_numpy(dtype=np.int32)[rows],
                        S.SONG: songs.astype(np.int32),
                        S.SCORE: scores.astype(np.float32),
                        S.RANK: ranks.astype(np.int32),
                    }
                )

    return score


def recommend_top_n(
    interactions: DataFrame,
    broadcast,
    n: int,
    users: DataFrame | None = None,
    *,
    block_size: int = 1024,
    partitions: int = 0,
) -> DataFrame:
    """Each user's top ``n`` unplayed songs (:data:`recsys.schemas.TOPN_SCHEMA`) from the
    broadcast :class:`NeighbourIndex`; ``users`` (``user_idx``) limits whom, users without
    plays in ``interactions`` get no rows. ``partitions`` (0: twice the default parallelism)
    sets how many tasks score."""
    parts = scoring_partitions(interactions.sparkSession, partitions)
    plays = played_songs(interactions, parts)
    if users is not None:
        plays = plays.join(users.select(S.USER).distinct(), S.USER, "left_semi")
    scored = plays.select(S.USER, EXCLUDE).mapInPandas(
        _score_partitions(broadcast, n, block_size), S.TOPN_SCHEMA
    )
    return S.to_schema(scored, S.TOPN_SCHEMA)


class ItemKNNRecommender(Recommender):
    """Item-based CF: co-play neighbours (:mod:`recsys.similarity.coplay`), scores summed.

    ``fit`` computes and persists the top-``itemknn.k`` neighbour lists; :meth:`from_neighbours`
    rebuilds a fitted model from a written table of them. The broadcast index is built at the
    first ``recommend`` and kept until :meth:`release`.
    """

    name = "itemknn"

    def __init__(self, knn_cfg: ItemKnnConfig) -> None:
        self.cfg = knn_cfg
        self.neighbours: DataFrame | None = None
        self._broadcast = None
        self._persisted = False

    def fit(self, interactions: DataFrame) -> ItemKNNRecommender:
        from pyspark import StorageLevel

        self.release()
        self._interactions = interactions
        self.neighbours = self._compute(self.cfg.k).persist(StorageLevel.MEMORY_AND_DISK)
        self.neighbours.count()  # the fit happens here, not at the first read
        self._persisted = True
        return self

    @classmethod
    def from_neighbours(
        cls, knn_cfg: ItemKnnConfig, interactions: DataFrame, neighbours: DataFrame
    ) -> ItemKNNRecommender:
        """A fitted model from a neighbour table ``itemknn.k`` deep (deeper rows are unused)."""
        model = cls(knn_cfg)
        model._interactions, model.neighbours = interactions, neighbours
        return model

    def recommend(self, users: DataFrame | None, n: int) -> DataFrame:
        check_n(n)
        interactions = self.interactions
        if self._broadcast is None:
            parts = index_parts(self._lists(), interactions, self.cfg.k)
            self._broadcast = ship(interactions.sparkSession, parts, build_index)
        return recommend_top_n(
            interactions,
            self._broadcast,
            n,
            users,
            block_size=self.cfg.block_size,
            partitions=self.cfg.score_partitions,
        )

    def similar_items(self, k: int) -> DataFrame:
        check_n(k, "k")
        if k <= self.cfg.k:
            return self._lists().where(F.col(S.RANK) <= k)
        return self._compute(k)

    def release(self) -> None:
        """Unpersist the fitted lists and destroy the broadcast index (a no-op when unfitted)."""
        if self._broadcast is not None:
            destroy_broadcast(self._broadcast)
            self._broadcast = None
        if self._persisted and self.neighbours is not None:
            self.neighbours.unpersist()
            self._persisted = False

    def _lists(self) -> DataFrame:
        if self.neighbours is None:
            raise ModelError("ItemKNNRecommender is not fitted: call fit(interactions)")
        return self.neighbours

    def _compute(self, k: int) -> DataFrame:
        return coplay.coplay_neighbours(
            self.interactions,
            k,
            asymmetry=self.cfg.asymmetry,
            locality=self.cfg.locality,
            max_songs_per_user=self.cfg.max_songs_per_user,
            seed=self.cfg.seed,
            song_blocks=self.cfg.song_blocks,
        )
