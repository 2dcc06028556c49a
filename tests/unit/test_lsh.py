"""Neighbour search: exact blocked matmul vs numpy, LSH vs exact, recall, bounded buckets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.similarity import lsh, topn

VECTORS_DDL = "song_idx int, features array<float>"


def clustered(n: int, dim: int, clusters: int, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + noise * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(x: np.ndarray, k: int) -> dict[int, list[int]]:
    sims = x.astype(np.float64) @ x.T.astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(x)), sims.shape), -sims), axis=1)
    return {i: order[i, :k].tolist() for i in range(len(x))}


def as_df(spark, x: np.ndarray, extra_rows=()):
    rows = [(i, x[i].tolist()) for i in range(len(x))] + list(extra_rows)
    return spark.createDataFrame(rows, VECTORS_DDL)


def lists(neighbours) -> dict[int, list[int]]:
    out: dict[int, list] = {}
    for r in neighbours.orderBy(S.SONG, S.RANK).collect():
        out.setdefault(r[S.SONG], []).append(r[S.NEIGHBOUR])
    return out


@pytest.fixture(scope="module")
def cloud(spark):
    x = clustered(400, 16, 8, 0.5, seed=3)
    df = as_df(spark, x, extra_rows=[(400, [0.0] * 16)]).persist()
    exact = topn.exact_neighbours(df, 10, block_size=150)  # several query blocks
    exact = exact.persist()
    yield x, df, exact
    exact.unpersist()
    df.unpersist()


def test_exact_neighbours_match_numpy_brute_force(cloud):
    x, _, exact = cloud
    got = lists(exact)
    assert got == brute_force(x, 10)  # also: the zero vector (song 400) is nowhere
    rows = exact.collect()
    for r in rows[:50]:
        cos = float(x[r[S.SONG]].astype(np.float64) @ x[r[S.NEIGHBOUR]].astype(np.float64))
        assert r[S.SIMILARITY] == pytest.approx(cos, abs=1e-5)
    as_types = [(f.name, f.dataType) for f in exact.schema]
    assert as_types == [(f.name, f.dataType) for f in S.NEIGHBOURS_SCHEMA]


def test_exact_neighbours_for_a_sample_of_queries(spark, cloud):
    x, df, _ = cloud
    queries = spark.createDataFrame([(5,), (17,), (400,)], "song_idx int")
    got = lists(topn.exact_neighbours(df, 4, queries=queries, block_size=2))
    expected = brute_force(x, 4)
    assert got == {5: expected[5], 17: expected[17]}


def test_lsh_agrees_with_brute_force_to_the_promised_recall(cloud):
    x, df, exact = cloud
    # 16-d unit vectors: projections have sd 1/4, so bucket 0.5 with 2 AND-ed hashes and 8
    # tables is selective yet catches near pairs; chunks of 120 keep popular buckets bounded.
    approx = lsh.lsh_neighbours(df, 10, 0.5, 8, 120, seed=11, hashes_per_table=2).persist()
    recall = lsh.lsh_recall(approx, exact)
    assert recall["songs"] == 400 and recall["k"] == 10
    assert recall["recall"] >= 0.9, recall
    rows = approx.collect()
    approx.unpersist()
    assert 400 not in {r[S.SONG] for r in rows} | {r[S.NEIGHBOUR] for r in rows}
    for r in rows:
        cos = float(x[r[S.SONG]].astype(np.float64) @ x[r[S.NEIGHBOUR]].astype(np.float64))
        assert r[S.SIMILARITY] == pytest.approx(cos, abs=1e-5)
        assert r[S.SONG] != r[S.NEIGHBOUR]
    by_song: dict[int, list] = {}
    for r in sorted(rows, key=lambda r: (r[S.SONG], r[S.RANK])):
        by_song.setdefault(r[S.SONG], []).append(r)
    for song_rows in by_song.values():
        assert [r[S.RANK] for r in song_rows] == list(range(1, len(song_rows) + 1))
        sims = [r[S.SIMILARITY] for r in song_rows]
        assert sims == sorted(sims, reverse=True)
        assert len({r[S.NEIGHBOUR] for r in song_rows}) == len(song_rows) <= 10


def test_popular_buckets_are_cut_into_bounded_chunks(spark):
    # 300 songs around one direction: with wide buckets they all share one bucket per table
    x = clustered(300, 8, 1, 0.05, seed=5)
    unit = lsh.unit_vectors(as_df(spark, x))
    buckets = lsh.lsh_buckets(unit, 10.0, 3, 40, seed=1)
    assert lsh.bucket_stats(buckets)["largest"] == 300
    chunk_sizes = buckets.groupBy("lsh_table", "lsh_key", "lsh_chunk").count().collect()
    assert max(r["count"] for r in chunk_sizes) <= 40
    assert sum(r["count"] for r in chunk_sizes) == 3 * 300
    nbrs = lsh.lsh_neighbours(as_df(spark, x), 5, 10.0, 3, 40, seed=1)
    assert nbrs.groupBy(S.SONG).count().agg(F.max("count")).first()[0] <= 5


def test_min_similarity_is_a_distance_threshold(spark):
    x = clustered(120, 8, 4, 0.6, seed=8)
    nbrs = lsh.lsh_neighbours(as_df(spark, x), 40, 1.0, 2, 200, seed=2, min_similarity=0.5)
    sims = [r[S.SIMILARITY] for r in nbrs.collect()]
    assert sims and min(sims) >= 0.5 - 1e-6
    assert lsh.distance_threshold(0.5) == pytest.approx(1.0)
    assert lsh.distance_threshold(1.0) == 0.0 and lsh.distance_threshold(-1.0) == 2.0
    # the threshold really cuts: 4 clusters of about 30, so a top 40 reaches below 0.5
    exact = topn.exact_neighbours(as_df(spark, x), 40)
    assert exact.where(F.col(S.SIMILARITY) < 0.5).count() > 0


def test_recall_by_hand(spark):
    exact = spark.createDataFrame(
        [(1, 2, 0.9, 1), (1, 3, 0.8, 2), (2, 1, 0.9, 1), (2, 3, 0.7, 2), (3, 1, 0.8, 1)],
        S.NEIGHBOURS_SCHEMA,
    )
    approx = spark.createDataFrame(
        [(1, 3, 0.8, 1), (1, 4, 0.5, 2), (2, 1, 0.9, 1), (2, 3, 0.7, 2), (9, 1, 0.1, 1)],
        S.NEIGHBOURS_SCHEMA,
    )
    got = lsh.lsh_recall(approx, exact, k=2)
    # song 1: 1 of 2, song 2: 2 of 2, song 3: nothing found -> 0 of 1
    assert got["recall"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert got["songs"] == 3 and got["songs_full_recall"] == 1 and got["min"] == 0.0
    top1 = lsh.lsh_recall(approx, exact, k=1)
    assert top1["recall"] == pytest.approx((0.0 + 1.0 + 0.0) / 3)


def test_sample_songs_is_seeded_and_skips_zero_vectors(spark):
    x = clustered(50, 4, 2, 0.5, seed=1)
    df = as_df(spark, x, extra_rows=[(50, [0.0] * 4), (51, [math.nan] * 4)])
    a = [r[S.SONG] for r in lsh.sample_songs(df, 10, seed=4).collect()]
    b = [r[S.SONG] for r in lsh.sample_songs(df, 10, seed=4).collect()]
    c = [r[S.SONG] for r in lsh.sample_songs(df, 10, seed=5).collect()]
    assert a == b and len(set(a)) == 10 and a != c
    assert 50 not in lsh.sample_songs(df, 60, seed=4).toPandas()[S.SONG].tolist()
    assert lsh.sample_songs(df, 60, seed=4).count() == 50
