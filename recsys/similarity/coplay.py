"""Song-to-song similarity from co-plays (item-based collaborative filtering), in Spark built-ins.

On binary plays (who played what, not how often), with ``c_ij`` the users who played both songs
``i`` and ``j`` and ``n_i`` the listeners of ``i``, the similarity of ``j`` to ``i`` is the
asymmetric cosine of F. Aiolli's MSD Challenge entry, sharpened by a locality exponent ``q``::

    s_ij = (c_ij / (n_i ** a * n_j ** (1 - a))) ** q

``a = 0.5`` is the plain cosine; ``q = 1`` leaves it as it is, larger ``q`` shrinks weak
similarities faster than strong ones. ``i`` is the song whose list it is (the played song when
a user is scored), ``j`` its neighbour (the candidate): Aiolli puts his exponent on the
candidate, so his ``alpha`` is ``1 - a`` here. Each song keeps its ``k`` most similar songs,
itself excluded, ties to the smaller song id, as :data:`recsys.schemas.NEIGHBOURS_SCHEMA`
(``similarity`` holds ``s_ij`` with ``q`` applied: the weight a user's score sums).

The bound on the work. A user who played ``n`` songs makes ``n (n - 1) / 2`` co-play pairs, so
a few heavy users would dominate: a per-user cap keeps at most ``max_songs_per_user`` of each
user's songs, the ones with the smallest seeded hash of ``(seed, user, song)``: a uniform
sample, the same on every run and every partitioning, so each user makes fewer than ``cap ** 2
/ 2`` pairs. The listener counts ``n_i`` are counted on the same capped plays, so ``s`` is
exactly the asymmetric cosine of the capped matrix (at most 1 at ``a = 0.5``).

What the cap costs, measured by ``bench/bench_itemknn.py`` (bench/README.md has the table):
the recall of the uncapped top-50 neighbours and top-10 lists by the capped ones. On the real
Taste Profile excerpt (365 users, at most 401 songs each) the default 500 changes nothing; 200
(one user over it) keeps 84% of the pairs, 0.93 of the neighbours and 0.88 of the lists; 50
keeps 32% of the pairs, 0.53 of the neighbours and 0.39 of the lists. On the generated small
set (17K users, at most 870 songs) 500 caps 7 users and keeps 97% of the pairs, 0.98 of the
neighbours and 0.99 of the lists. A few heavy users hold a large share of the pairs, so a low
cap costs much more than it saves: keep it above nearly every user's song count so that it
bounds only the tail.

Scale: each user's songs are gathered into one array (one shuffle, by user) and sampled with
array built-ins. No row per user and pair is ever made. The songs are cut into
``song_blocks`` blocks by ``song_idx``, one task each; each user's list goes once to every block
it touches (at most ``song_blocks`` copies a user), so a task holds the lists of every user who
played one of its songs and computes its songs' rows of ``C = X^T X`` (``X`` the binary plays)
as scipy sparse products, in chunks of songs whose co-play rows stay under a budget. The
similarities and each song's top ``k`` are numpy on those rows, with the listener counts
(catalogue-sized) broadcast. The shuffle is the users' lists (users x blocks rows at most),
not the pairs (users x songs^2). At 2M generated triplets (bench/README) the co-plays took
20 s and 0.4M shuffled records where one row per user and pair took 98 s and 55M.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import NeighbourError
from recsys.ordering import ids, ranked_order
from recsys.similarity.gather import gather_columns
from recsys.similarity.ship import Gather, ship
from recsys.similarity.topn import partition_keys

CO_PLAYS = "co_plays"
LISTENERS = "n_listeners"
_SONGS = "_songs"


def _check(k: int, asymmetry: float, locality: float, max_songs_per_user: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise NeighbourError(f"k: expected a positive integer, got {k!r}")
    if not 0.0 <= asymmetry <= 1.0:
        raise NeighbourError(f"asymmetry: expected a number in [0, 1], got {asymmetry!r}")
    if not locality >= 0.0:
        raise NeighbourError(f"locality: expected a number at least 0, got {locality!r}")
    if isinstance(max_songs_per_user, bool) or max_songs_per_user < 0:
        raise NeighbourError(
            f"max_songs_per_user: expected an integer at least 0 (0: no cap), "
            f"got {max_songs_per_user!r}"
        )


def capped_lists(interactions: DataFrame, max_songs_per_user: int, seed: int) -> DataFrame:
    """``(user_idx, songs array<int>)``: each user's distinct songs, at most
    ``max_songs_per_user`` of them (``0`` keeps every song).

    The songs kept are those with the smallest ``xxhash64(seed, user, song)`` (ties, which a
    64-bit hash makes vanishingly rare, to the smaller song id): deterministic, independent of
    the partitioning and of the order of the plays, and uniform over the user's songs. One
    shuffle (by user); the sample is array built-ins on each user's list.
    """
    songs = F.array_distinct(F.collect_list(F.col(S.SONG).cast("int")))
    lists = interactions.groupBy(F.col(S.USER).cast("int").alias(S.USER)).agg(songs.alias(_SONGS))
    if max_songs_per_user == 0:
        return lists
    keyed = F.transform(
        F.col(_SONGS),
        lambda song: F.struct(
            F.xxhash64(F.lit(int(seed)), F.col(S.USER), song).alias("h"), song.alias("s")
        ),
    )
    sample = F.slice(F.array_sort(keyed), 1, int(max_songs_per_user))
    return lists.select(S.USER, F.transform(sample, lambda e: e["s"]).alias(_SONGS))


def capped_plays(interactions: DataFrame, max_songs_per_user: int, seed: int) -> DataFrame:
    """``(user_idx, song_idx)``: the songs of :func:`capped_lists`, one row each."""
    lists = capped_lists(interactions, max_songs_per_user, seed)
    return lists.select(S.USER, F.explode(_SONGS).alias(S.SONG))


def co_play_pairs(lists: DataFrame) -> DataFrame:
    """``(song_idx, neighbour_idx)`` with ``song_idx < neighbour_idx``: one row per user per
    pair of songs they both played (``lists`` as :func:`capped_lists` gives), before counting.

    A user with ``n`` songs makes ``n (n - 1) / 2`` rows, fewer than ``n ** 2``.
    """
    songs = F.col(_SONGS)
    firsts = lists.select(F.explode(songs).alias(S.SONG), songs)
    return firsts.select(
        S.SONG, F.explode(F.filter(songs, lambda other: other > F.col(S.SONG))).alias(S.NEIGHBOUR)
    )


def listeners(lists: DataFrame) -> DataFrame:
    """``(song_idx, n_listeners)``: the users of ``lists`` who played each song."""
    return (
        lists.select(F.explode(_SONGS).alias(S.SONG))
        .groupBy(S.SONG)
        .agg(F.count("*").alias(LISTENERS))
    )


def block_lists(lists: DataFrame, blocks: int, keys: list[int]) -> DataFrame:
    """``(_key, _b, songs)``: each user's list once for every song block it touches (``song_idx %
    blocks``), keyed for :func:`recsys.similarity.topn.partition_keys`; users of one song make
    no pairs and are left out. Rows: at most ``blocks`` per user."""
    key_of = F.element_at(F.array(*[F.lit(k) for k in keys]), F.col("_b") + 1)
    touched = F.array_distinct(F.transform(F.col(_SONGS), lambda s: F.pmod(s, F.lit(blocks))))
    return (
        lists.where(F.size(_SONGS) >= 2)
        .select(F.explode(touched).alias("_b"), _SONGS)
        .select(key_of.alias("_key"), "_b", _SONGS)
    )


def best_per_song(
    song: np.ndarray, nbr: np.ndarray, sim: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each song's ``k`` highest ``sim`` (ties to the smaller neighbour id) and their ranks
    from 1, sorted by song then rank."""
    order = ranked_order(ids(song), sim, ids(nbr))  # (song, nbr) unique: np.lexsort's order
    song, nbr, sim = song[order], nbr[order], sim[order]
    starts = np.flatnonzero(np.r_[True, song[1:] != song[:-1]]) if len(song) else song[:0]
    rank = np.arange(len(song)) - np.repeat(starts, np.diff(np.r_[starts, len(song)]))
    keep = rank < k
    return song[keep], nbr[keep], sim[keep], rank[keep] + 1


def similarity_values(
    co_plays: np.ndarray, n_i: np.ndarray, n_j: np.ndarray, asymmetry: float, locality: float
) -> np.ndarray:
    """``(c_ij / (n_i^a n_j^(1-a)))^q`` in double, rounded to float32 once (as Spark's ``pow``
    and a cast to float compute it: the same floats on the tests' data)."""
    a, q = float(asymmetry), float(locality)
    c = co_plays.astype(np.float64)
    cosine = c / (np.power(n_i.astype(np.float64), a) * np.power(n_j.astype(np.float64), 1.0 - a))
    return np.power(cosine, q).astype(np.float32)


def block_neighbours(
    lists: list[np.ndarray],
    block: int,
    blocks: int,
    n_listeners: np.ndarray,
    k: int,
    asymmetry: float,
    locality: float,
    pair_budget: int = 1 << 22,
) -> Iterator[pd.DataFrame]:
    """The neighbour lists of the songs of ``block`` (``song_idx % blocks == block``) from
    ``lists``, the song lists of every user who played one of them, in chunks of songs whose
    co-play rows (``X[:, chunk]^T X``, one sparse product) stay under ``pair_budget``."""
    lens = np.fromiter((len(a) for a in lists), dtype=np.int64, count=len(lists))
    cols, local = np.unique(np.concatenate(lists).astype(np.int64), return_inverse=True)
    indptr = np.zeros(len(lists) + 1, np.int64)
    np.cumsum(lens, out=indptr[1:])
    plays = sp.csr_matrix(
        (np.ones(len(local), np.int32), local.ravel(), indptr), shape=(len(lists), len(cols))
    )
    plays.sum_duplicates()
    plays.data[:] = 1  # a repeated song is one play of it
    by_song = plays.T.tocsr()
    counts = np.bincount(plays.indices, minlength=len(cols))  # listeners here, per column
    work = by_song @ np.diff(plays.indptr).astype(np.int64)  # co-play rows per song (bound)
    mine = np.flatnonzero(cols % blocks == block)
    mine = mine[counts[mine] > 0]
    for chunk in _chunks(mine, work[mine], pair_budget):
        rows = (by_song[chunk] @ plays).tocoo()
        song, nbr = cols[chunk][rows.row], cols[rows.col]
        off = song != nbr
        song, nbr, c = song[off], nbr[off], rows.data[off]
        sim = similarity_values(c, n_listeners[song], n_listeners[nbr], asymmetry, locality)
        song, nbr, sim, rank = best_per_song(song, nbr, sim, k)
        yield pd.DataFrame(
            {
                S.SONG: song.astype(np.int32),
                S.NEIGHBOUR: nbr.astype(np.int32),
                S.SIMILARITY: sim,
                S.RANK: rank.astype(np.int32),
            }
        )


def _chunks(songs: np.ndarray, work: np.ndarray, budget: int) -> Iterator[np.ndarray]:
    """``songs`` cut into runs whose summed ``work`` stays under ``budget`` (one song a run at
    least)."""
    start, total = 0, 0
    for i, w in enumerate(work.tolist()):
        if total and total + w > budget:
            yield songs[start:i]
            start, total = i, 0
        total += w
    if start < len(songs):
        yield songs[start:]


def _neighbour_partitions(broadcast, blocks, k, asymmetry, locality, pair_budget):
    def neighbours(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        parts = [pdf for pdf in batches if len(pdf)]
        if not parts:
            return
        rows = pd.concat(parts, ignore_index=True)
        n_listeners = broadcast.value
        for block, group in rows.groupby("_b", sort=True):
            lists = [np.asarray(a) for a in group[_SONGS]]
            yield from block_neighbours(
                lists, int(block), blocks, n_listeners, k, asymmetry, locality, pair_budget
            )

    return neighbours


def _dense_listeners(found: dict[str, np.ndarray]) -> np.ndarray:
    out = np.zeros(int(found[S.SONG].max(initial=-1)) + 1, np.int64)
    out[found[S.SONG]] = found[LISTENERS]
    return out


def gather_listeners(lists: DataFrame) -> Gather:
    """Listeners of each song of ``lists``, dense by ``song_idx`` (catalogue-sized), as a
    gather."""
    found = gather_columns(listeners(lists), {S.SONG: "int64", LISTENERS: "int64"})
    return Gather(found.frame, partial(_unpack_listeners, found.unpack))


def _unpack_listeners(unpack, chunks) -> np.ndarray:
    return _dense_listeners(unpack(chunks))


def listener_array(lists: DataFrame) -> np.ndarray:
    """Listeners of each song of ``lists``, dense by ``song_idx``, gathered on the driver."""
    return gather_listeners(lists).collect()


def _as_is(value):
    return value


_NEIGHBOURS_DDL = f"{S.SONG} int, {S.NEIGHBOUR} int, {S.SIMILARITY} float, {S.RANK} int"


def coplay_neighbours(
    interactions: DataFrame,
    k: int,
    *,
    asymmetry: float = 0.5,
    locality: float = 1.0,
    max_songs_per_user: int = 500,
    seed: int = 42,
    song_blocks: int = 16,
    pair_budget: int = 1 << 22,
) -> DataFrame:
    """Each song's ``k`` nearest songs by co-plays (:data:`recsys.schemas.NEIGHBOURS_SCHEMA`).

    ``interactions`` has ``(user_idx, song_idx)`` (play counts are ignored: a play is a play).
    Songs no capped user played beside another song have no neighbours. The songs are cut into
    ``song_blocks`` blocks (``song_idx % song_blocks``), one task each; a task gets the lists
    of the users who played one of its songs and counts its songs' co-plays in sparse products
    of at most ``pair_budget`` rows, with the listener counts (catalogue-sized) broadcast and
    registered with :func:`recsys.similarity.topn.register_broadcast`. Lazy: the caller
    persists the result if it reads it more than once.
    """
    _check(k, asymmetry, locality, max_songs_per_user)
    if isinstance(song_blocks, bool) or not isinstance(song_blocks, int) or song_blocks < 1:
        raise NeighbourError(f"song_blocks: expected a positive integer, got {song_blocks!r}")
    spark = interactions.sparkSession
    lists = capped_lists(interactions, max_songs_per_user, seed)
    broadcast = ship(spark, [gather_listeners(lists)], _as_is)
    rows = block_lists(lists, song_blocks, partition_keys(spark, song_blocks))
    found = rows.repartition(song_blocks, "_key").mapInPandas(
        _neighbour_partitions(
            broadcast, song_blocks, k, asymmetry, locality, max(int(pair_budget), 1)
        ),
        _NEIGHBOURS_DDL,
    )
    return S.to_schema(found, S.NEIGHBOURS_SCHEMA)
