"""The co-play neighbours counted per block of songs in sparse products
(recsys.similarity.coplay) equal the row-per-pair Spark version they replaced
(tests/reference_coplay.py), whatever the blocks and chunks; and they shuffle lists, not pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import NeighbourError
from recsys.similarity import coplay, topn
from recsys.steps import stagestats
from tests import reference_coplay


def table(df) -> pd.DataFrame:
    cols = [S.SONG, S.RANK, S.NEIGHBOUR, S.SIMILARITY]
    return df.toPandas()[cols].sort_values([S.SONG, S.RANK]).reset_index(drop=True)


@pytest.fixture(scope="module")
def uneven_plays(spark):
    """150 users over 90 songs: a few heavy users, many light ones, users of one song (no
    pairs), popular and never co-played songs; coarse structure so similarities tie."""
    rng = np.random.default_rng(5)
    rows = []
    for u in range(150):
        n = int(rng.choice([1, 1, 2, 3, 5, 8, 40])) if u % 10 else 60
        weights = 1.0 / np.arange(1, 91) ** 0.8
        songs = rng.choice(90, size=min(n, 90), replace=False, p=weights / weights.sum())
        rows += [(u, int(s) * 3, int(rng.integers(1, 6))) for s in songs]  # ids with gaps
    rows.append((150, 999, 1))  # a song nobody else played, its user played nothing else
    return spark.createDataFrame(rows, S.INTERACTIONS_SCHEMA).select(S.USER, S.SONG, S.PLAYS)


@pytest.mark.parametrize(
    "blocks, budget, cap, a, q, k",
    [
        (1, 1 << 22, 0, 0.5, 1.0, 10),
        (3, 40, 0, 0.85, 3.0, 5),  # chunks of a few songs
        (8, 1, 20, 0.85, 3.0, 50),  # one song a chunk; k beyond most songs' neighbours
        (7, 500, 6, 0.3, 2.0, 3),
    ],
)
def test_blocked_neighbours_equal_the_row_per_pair_reference(
    uneven_plays, blocks, budget, cap, a, q, k
):
    kw = dict(asymmetry=a, locality=q, max_songs_per_user=cap, seed=9)
    got = table(
        coplay.coplay_neighbours(uneven_plays, k, song_blocks=blocks, pair_budget=budget, **kw)
    )
    want = table(reference_coplay.coplay_neighbours(uneven_plays, k, **kw))
    assert len(want) > 100
    assert 999 not in set(got[S.SONG]) | set(got[S.NEIGHBOUR])
    pd.testing.assert_frame_equal(got, want)  # the same floats: same formula, rounded once


def test_every_block_gets_a_partition_of_its_own(spark):
    for blocks in (1, 2, 5, 16, 33):
        keys = topn.partition_keys(spark, blocks)
        assert len(set(keys)) == blocks
        frame = spark.createDataFrame([(k, b) for b, k in enumerate(keys)], "_key int, _b int")
        placed = frame.repartition(blocks, "_key").select("_b", F.spark_partition_id().alias("p"))
        assert {r["_b"]: r["p"] for r in placed.collect()} == dict(enumerate(range(blocks)))


def test_a_user_list_is_sent_once_to_each_block_it_touches(spark):
    lists = spark.createDataFrame(
        [(0, [0, 3, 6, 1]), (1, [2]), (2, [4, 5])], f"{S.USER} int, _songs array<int>"
    )
    keys = topn.partition_keys(spark, 3)
    rows = coplay.block_lists(lists, 3, keys).collect()
    got = sorted((r["_b"], tuple(r["_songs"])) for r in rows)
    # user 0 touches blocks 0 and 1; user 1 (one song) makes no pairs; user 2 blocks 1 and 2
    assert got == [(0, (0, 3, 6, 1)), (1, (0, 3, 6, 1)), (1, (4, 5)), (2, (4, 5))]
    assert all(r["_key"] == keys[r["_b"]] for r in rows)


def test_best_per_song_ranks_ties_to_the_smaller_neighbour():
    song = np.array([4, 4, 4, 4, 1, 1])
    nbr = np.array([9, 2, 7, 3, 5, 6])
    sim = np.array([0.5, 0.5, 0.9, 0.1, 0.2, 0.2], np.float32)
    s, n, v, r = coplay.best_per_song(song, nbr, sim, 3)
    assert s.tolist() == [1, 1, 4, 4, 4]
    assert n.tolist() == [5, 6, 7, 2, 9]
    assert r.tolist() == [1, 2, 1, 2, 3]
    assert v.tolist() == pytest.approx([0.2, 0.2, 0.9, 0.5, 0.5])
    assert [len(x) for x in coplay.best_per_song(song[:0], nbr[:0], sim[:0], 3)] == [0] * 4


def test_the_shuffle_carries_user_lists_not_one_row_per_pair(spark, uneven_plays):
    lists = coplay.capped_lists(uneven_plays, 0, 9)
    pairs = coplay.co_play_pairs(lists).count()
    users = uneven_plays.select(S.USER).distinct().count()
    blocks = 4
    mark = stagestats.mark(spark)
    coplay.coplay_neighbours(uneven_plays, 10, song_blocks=blocks).count()
    shuffled = stagestats.figures_since(spark, mark)["shuffle_write_records"]
    songs = uneven_plays.select(S.SONG).distinct().count()
    # the lists grouped by user (twice: listeners and blocks), the listener counts, and at
    # most one list per user and block
    assert shuffled <= 2 * len(uneven_plays.collect()) + songs + users * blocks
    assert shuffled < pairs / 2


def test_no_plays_give_no_neighbours_and_bad_blocks_are_refused(spark, uneven_plays):
    empty = uneven_plays.limit(0)
    assert coplay.coplay_neighbours(empty, 5, song_blocks=3).count() == 0
    for bad in (0, -1, True, 2.0):
        with pytest.raises(NeighbourError, match="song_blocks"):
            coplay.coplay_neighbours(uneven_plays, 5, song_blocks=bad)
