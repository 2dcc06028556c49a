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

Scale: each user's songs are gathered into one array (one shuffle, by user), sampled with array
built-ins, and exploded into pairs; the pairs are counted by a ``groupBy`` with map-side
partial aggregation and cut to ``k`` per song by a ``row_number`` window that Spark 3.5 limits
per partition before its shuffle (``InferWindowGroupLimit``, for ``k`` up to
``spark.sql.optimizer.windowGroupLimitThreshold``, 1000). Each unordered pair is counted once
and gives both directions; the listener table is catalogue-sized and broadcast into its joins.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import NeighbourError

CO_PLAYS = "co_plays"
LISTENERS = "n_listeners"
_SONGS = "_songs"
_NBR_LISTENERS = "_neighbour_listeners"


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


def similarities(
    counts: DataFrame, song_listeners: DataFrame, asymmetry: float, locality: float
) -> DataFrame:
    """``(song_idx, neighbour_idx, similarity float)`` in both directions from the counted
    pairs (``song_idx < neighbour_idx``, ``co_plays``): ``(c_ij / (n_i^a n_j^(1-a)))^q``.

    ``song_listeners`` (catalogue-sized) is broadcast into two joins. Computed in double and
    rounded to float once, so equal similarities are equal floats and the ranking below sees
    the values that are written.
    """
    song_side = F.broadcast(song_listeners)
    nbr_side = F.broadcast(
        song_listeners.select(
            F.col(S.SONG).alias(S.NEIGHBOUR), F.col(LISTENERS).alias(_NBR_LISTENERS)
        )
    )
    pairs = counts.join(song_side, S.SONG).join(nbr_side, S.NEIGHBOUR)
    a, q = float(asymmetry), float(locality)

    def sim(n_i: str, n_j: str) -> Column:
        cosine = F.col(CO_PLAYS) / (
            F.pow(F.col(n_i).cast("double"), F.lit(a))
            * F.pow(F.col(n_j).cast("double"), F.lit(1.0 - a))
        )
        return F.pow(cosine, F.lit(q)).cast("float")

    both = F.array(
        F.struct(
            F.col(S.SONG).alias(S.SONG),
            F.col(S.NEIGHBOUR).alias(S.NEIGHBOUR),
            sim(LISTENERS, _NBR_LISTENERS).alias(S.SIMILARITY),
        ),
        F.struct(
            F.col(S.NEIGHBOUR).alias(S.SONG),
            F.col(S.SONG).alias(S.NEIGHBOUR),
            sim(_NBR_LISTENERS, LISTENERS).alias(S.SIMILARITY),
        ),
    )
    return pairs.select(F.explode(both).alias("_pair")).select("_pair.*")


def top_k(scored: DataFrame, k: int) -> DataFrame:
    """Each song's ``k`` most similar neighbours (ties to the smaller id), ranked from 1."""
    best_first = Window.partitionBy(S.SONG).orderBy(F.desc(S.SIMILARITY), F.asc(S.NEIGHBOUR))
    ranked = scored.withColumn(S.RANK, F.row_number().over(best_first)).where(F.col(S.RANK) <= k)
    return S.to_schema(
        ranked.select(S.SONG, S.NEIGHBOUR, S.SIMILARITY, S.RANK), S.NEIGHBOURS_SCHEMA
    )


def coplay_neighbours(
    interactions: DataFrame,
    k: int,
    *,
    asymmetry: float = 0.5,
    locality: float = 1.0,
    max_songs_per_user: int = 500,
    seed: int = 42,
) -> DataFrame:
    """Each song's ``k`` nearest songs by co-plays (:data:`recsys.schemas.NEIGHBOURS_SCHEMA`).

    ``interactions`` has ``(user_idx, song_idx)`` (play counts are ignored: a play is a play).
    Songs no capped user played beside another song have no neighbours. Lazy: the caller
    persists the result if it reads it more than once.
    """
    _check(k, asymmetry, locality, max_songs_per_user)
    lists = capped_lists(interactions, max_songs_per_user, seed)
    counts = co_play_pairs(lists).groupBy(S.SONG, S.NEIGHBOUR).agg(F.count("*").alias(CO_PLAYS))
    return top_k(similarities(counts, listeners(lists), asymmetry, locality), k)
