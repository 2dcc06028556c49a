"""Blocked top-N scoring and collaborative neighbours against brute-force numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.similarity import gather, topn

FEATURES_TYPE = T.ArrayType(T.FloatType(), False)


def brute_force_top_n(query_ids, queries, excluded, item_ids, items, n):
    """Reference: full float64 score matrix, Python sort by (-score as float32, id)."""
    scores = (queries.astype(np.float64) @ items.astype(np.float64).T).astype(np.float32)
    out = []
    for row, qid in enumerate(query_ids):
        skip = set(excluded.get(qid, ()))
        ranked = sorted(
            (-scores[row, j], int(item_ids[j]))
            for j in range(len(item_ids))
            if int(item_ids[j]) not in skip
        )
        for rank, (neg, song) in enumerate(ranked[:n], 1):
            out.append((int(qid), song, float(-neg), rank))
    return out


def integer_case(seed=7, n_users=25, n_items=60, dim=6):
    """Small-integer factors: every dot product is exact, so ties are exact and plentiful."""
    rng = np.random.default_rng(seed)
    user_ids = np.sort(rng.choice(500, n_users, replace=False)).astype(np.int32)
    item_ids = rng.choice(1000, n_items, replace=False).astype(np.int32)  # unsorted on purpose
    users = rng.integers(-2, 3, size=(n_users, dim)).astype(np.float32)
    items = rng.integers(-2, 3, size=(n_items, dim)).astype(np.float32)
    # Planted ties: exact duplicates of item vectors, in both id orders.
    items[5] = items[17]
    items[40] = items[17]
    items[23] = items[2]
    played = {}
    for u in user_ids[:-1]:  # the last user has no plays at all
        k = int(rng.integers(0, 15))
        played[int(u)] = [int(i) for i in rng.choice(item_ids, k, replace=False)]
    played[int(user_ids[0])] += [9999]  # a played song without factors is ignored
    played[int(user_ids[1])] = [int(i) for i in item_ids[3:]]  # only 3 songs left to offer
    return user_ids, users, item_ids, items, played


def test_top_n_block_matches_brute_force_with_ties():
    user_ids, users, item_ids, items, played = integer_case()
    order = np.argsort(item_ids)
    rows, songs, scores, ranks = topn.top_n_block(
        users, [played.get(int(u)) for u in user_ids], item_ids[order], items[order], 8
    )
    got = [
        (int(user_ids[r]), int(s), float(sc), int(k))
        for r, s, sc, k in zip(rows, songs, scores, ranks, strict=True)
    ]
    expected = brute_force_top_n(user_ids, users, played, item_ids, items, 8)
    assert got == expected
    tied = [(u, s) for u, s, sc, _ in expected if s in {int(item_ids[5]), int(item_ids[17])}]
    assert tied, "the planted ties should reach some top lists"


@pytest.mark.parametrize("seed", range(30))
def test_top_n_block_random_shapes_and_exclusions(seed):
    """Many shapes, so both the subset bound and its full-row fallback are exercised."""
    rng = np.random.default_rng(seed)
    m, b, dim = int(rng.integers(1, 400)), int(rng.integers(1, 30)), int(rng.integers(1, 6))
    n = int(rng.integers(1, 25))
    item_ids = np.sort(rng.choice(5 * m, m, replace=False)).astype(np.int32)
    items = rng.integers(-3, 4, size=(m, dim)).astype(np.float32)
    queries = rng.integers(-3, 4, size=(b, dim)).astype(np.float32)
    excluded = {}
    for row in range(b):
        share = rng.choice([0.0, 0.1, 0.9, 0.99, 1.0])
        excluded[row] = [int(i) for i in rng.choice(item_ids, int(share * m), replace=False)]
    got = topn.top_n_block(queries, [excluded[r] for r in range(b)], item_ids, items, n)
    got = [(int(r), int(s), float(sc), int(k)) for r, s, sc, k in zip(*got, strict=True)]
    assert got == brute_force_top_n(np.arange(b), queries, excluded, item_ids, items, n)


def test_top_n_block_float_factors_blocking_does_not_change_order():
    rng = np.random.default_rng(3)
    items = rng.normal(size=(300, 16)).astype(np.float32)
    items[[7, 150, 299]] = items[42]  # identical vectors must tie exactly and go by id
    item_ids = np.arange(300, dtype=np.int32) * 3
    queries = rng.normal(size=(40, 16)).astype(np.float32)
    whole = topn.top_n_block(queries, None, item_ids, items, 20)
    starts = range(0, 40, 7)
    pieces = [topn.top_n_block(queries[i : i + 7], None, item_ids, items, 20) for i in starts]
    blocked_rows = np.concatenate([p[0] + i for p, i in zip(pieces, starts, strict=True)])
    assert np.array_equal(whole[0], blocked_rows)
    for j in (1, 2, 3):
        assert np.array_equal(whole[j], np.concatenate([p[j] for p in pieces]))
    expected = brute_force_top_n(np.arange(40), queries, {}, item_ids, items, 20)
    got = [(int(r), int(s), float(sc), int(k)) for r, s, sc, k in zip(*whole, strict=True)]
    assert got == expected


def columns(schema: T.StructType) -> list:
    return [(f.name, f.dataType) for f in schema.fields]


def factors_df(spark, ids, matrix, id_col):
    schema = T.StructType(
        [T.StructField(id_col, T.IntegerType(), False), T.StructField(S.FEATURES, FEATURES_TYPE)]
    )
    rows = [(int(i), [float(x) for x in v]) for i, v in zip(ids, matrix, strict=True)]
    return spark.createDataFrame(rows, schema)


def interactions_df(spark, played):
    rows = [(u, s, 1 + (u + s) % 4) for u, songs in played.items() for s in songs]
    return spark.createDataFrame(rows, S.INTERACTIONS_SCHEMA)


def test_recommend_top_n_agrees_exactly_with_brute_force(spark):
    user_ids, users, item_ids, items, played = integer_case()
    recs = topn.recommend_top_n(
        factors_df(spark, user_ids, users, S.USER),
        factors_df(spark, item_ids, items, S.SONG),
        interactions_df(spark, played),
        8,
        block_size=4,  # several numpy blocks per partition
    )
    assert recs.schema == S.TOPN_SCHEMA
    got = sorted(tuple(r) for r in recs.collect())
    expected = brute_force_top_n(user_ids, users, played, item_ids, items, 8)
    assert got == sorted(expected)
    by_user = {}
    for u, s, _, _ in got:
        by_user.setdefault(u, []).append(s)
    assert len(by_user[int(user_ids[1])]) == 3  # fewer songs left than n
    assert all(not set(songs) & set(played.get(u, ())) for u, songs in by_user.items())


def test_rows_per_block_caps_memory():
    assert topn.rows_per_block(100, 4096, 256) == 4096
    # 384K songs: one row's scores and working copies take 12 * 384K bytes.
    assert topn.rows_per_block(384_000, 4096, 256) == 256 * 2**20 // (12 * 384_000)
    assert topn.rows_per_block(10**9, 4096, 1) == 1


def test_collect_item_matrix_sorts_and_rejects_duplicates(spark):
    ids = np.array([9, 2, 5], dtype=np.int32)
    matrix = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
    got_ids, got = gather.collect_item_matrix(factors_df(spark, ids, matrix, S.SONG), chunk_rows=2)
    assert got_ids.tolist() == [2, 5, 9]
    assert got.tolist() == [[3, 4], [5, 6], [1, 2]]
    dup = factors_df(spark, [1, 1], matrix[:2], S.SONG)
    with pytest.raises(topn.FactorError, match="song_idx=1"):
        gather.collect_item_matrix(dup)


def brute_force_neighbours(item_ids, items, k):
    unit = items.astype(np.float64) / np.linalg.norm(items.astype(np.float64), axis=1)[:, None]
    sims = unit @ unit.T
    out = []
    for a, song in enumerate(item_ids):
        ranked = sorted((-sims[a, b], int(item_ids[b])) for b in range(len(item_ids)) if b != a)
        out.extend((int(song), nb, -neg, rank) for rank, (neg, nb) in enumerate(ranked[:k], 1))
    return out


def neighbour_case(seed=11):
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(40, 6)).astype(np.float32)
    items[30] = items[4]  # a planted exact duplicate: each is the other's first neighbour
    items[12] = items[4]
    item_ids = (rng.permutation(40) * 2 + 1).astype(np.int32)
    return item_ids, items


def test_exact_neighbours_match_brute_force_cosine(spark):
    item_ids, items = neighbour_case()
    got = topn.exact_neighbours(factors_df(spark, item_ids, items, S.SONG), 5, block_size=3)
    assert got.schema == S.NEIGHBOURS_SCHEMA
    got = sorted(tuple(r) for r in got.collect())
    expected = sorted(brute_force_neighbours(item_ids, items, 5))
    assert [(a, b, r) for a, b, _, r in got] == [(a, b, r) for a, b, _, r in expected]
    assert np.allclose([g[2] for g in got], [e[2] for e in expected], atol=1e-5)
    dup_a, dup_b, dup_c = (int(item_ids[i]) for i in (4, 12, 30))
    first = {a: b for a, b, _, r in got if r == 1}
    assert first[dup_b] == min(dup_a, dup_c) and first[dup_a] == min(dup_b, dup_c)
    assert all(a != b for a, b, _, _ in got)


def test_lsh_neighbours_find_most_exact_neighbours(spark):
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(4, 8))
    items = np.concatenate([c + 0.15 * rng.normal(size=(15, 8)) for c in centres])
    items = items.astype(np.float32)
    item_ids = np.arange(60, dtype=np.int32)
    items_df = factors_df(spark, item_ids, items, S.SONG)
    got = topn.cf_neighbours(
        items_df, 5, "lsh", bucket_length=0.5, num_hash_tables=4, max_candidates=30, seed=1
    )
    assert columns(got.schema) == columns(S.NEIGHBOURS_SCHEMA)
    rows = got.collect()
    exact = {(a, b) for a, b, _, _ in brute_force_neighbours(item_ids, items, 5)}
    found = {(r[S.SONG], r[S.NEIGHBOUR]) for r in rows}
    assert all(r[S.SONG] != r[S.NEIGHBOUR] and 1 <= r[S.RANK] <= 5 for r in rows)
    assert len(found & exact) / len(exact) >= 0.8
    unit = items / np.linalg.norm(items, axis=1)[:, None]
    for r in rows[:20]:
        cos = float(unit[r[S.SONG]] @ unit[r[S.NEIGHBOUR]])
        assert r[S.SIMILARITY] == pytest.approx(cos, abs=1e-4)


def test_cf_neighbours_rejects_unknown_method(spark):
    item_ids, items = neighbour_case()
    with pytest.raises(ValueError, match="annoy"):
        topn.cf_neighbours(factors_df(spark, item_ids, items, S.SONG), 3, "annoy")


def test_top_n_block_empty_inputs():
    ids = np.arange(3, dtype=np.int32)
    items = np.ones((3, 2), dtype=np.float32)
    for queries, item_ids, matrix in (
        (np.zeros((0, 2), np.float32), ids, items),
        (np.ones((2, 2), np.float32), ids[:0], np.zeros((0, 0), np.float32)),
    ):
        rows, songs, scores, ranks = topn.top_n_block(queries, None, item_ids, matrix, 5)
        assert rows.size == songs.size == scores.size == ranks.size == 0
