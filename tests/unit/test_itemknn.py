"""Item-based CF on co-plays: similarities, the pair bound and user scores against dense numpy.

The references below are written from the formulas alone (``X`` the binary users x songs
matrix, ``C = X^T X``, ``s_ij = (C_ij / (n_i^a n_j^(1-a)))^q``), never from the code tested.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import NeighbourError
from recsys.models.itemknn import ItemKNNRecommender, NeighbourIndex, score_block
from recsys.similarity import coplay

# Six users, six songs; listeners per song 4, 4, 4, 3, 4, 3, so the asymmetry matters.
HAND_BUILT = np.array(
    [
        [1, 1, 1, 0, 0, 0],
        [1, 1, 0, 1, 0, 0],
        [1, 0, 1, 1, 1, 0],
        [0, 1, 1, 0, 1, 1],
        [1, 1, 1, 1, 1, 1],
        [0, 0, 0, 0, 1, 1],
    ]
)


# ----------------------------------------------------------------------------- references


def dense_similarity(x: np.ndarray, a: float, q: float) -> np.ndarray:
    """``s_ij`` for every pair (0 on the diagonal and where nobody played both)."""
    x = (np.asarray(x) > 0).astype(np.float64)
    c = x.T @ x
    n = np.diag(c).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        s = c / (n[:, None] ** a * n[None, :] ** (1.0 - a))
    s[c == 0] = 0.0
    np.fill_diagonal(s, 0.0)
    return s**q


def dense_top_k(s: np.ndarray, k: int) -> dict[tuple[int, int], tuple[float, int]]:
    """``{(song, neighbour): (similarity, rank)}``: top k per row by float32 value, ties to the
    smaller neighbour, positive similarities only."""
    out = {}
    s32 = s.astype(np.float32)
    for i in range(s.shape[0]):
        js = [j for j in np.lexsort((np.arange(s.shape[1]), -s32[i])) if s32[i, j] > 0][:k]
        for rank, j in enumerate(js, start=1):
            out[(i, int(j))] = (float(s32[i, j]), rank)
    return out


def dense_scores(x: np.ndarray, s: np.ndarray, k: int, n: int) -> dict[int, list[tuple]]:
    """Each user's top n: ``X @ W`` with W the top-k lists (float32 weights, as written),
    played songs out, ties to the smaller song, zero-score songs of the catalogue last."""
    w = np.zeros_like(s)
    for (i, j), (sim, _) in dense_top_k(s, k).items():
        w[i, j] = sim
    x = (np.asarray(x) > 0).astype(np.float64)
    scores = (x @ w).astype(np.float32)
    catalogue = x.sum(axis=0) > 0
    lists = {}
    for u in range(x.shape[0]):
        if not x[u].any():
            continue
        free = [j for j in range(x.shape[1]) if catalogue[j] and not x[u, j]]
        ordered = sorted(free, key=lambda j: (-scores[u, j], j))[:n]
        lists[u] = [(j, float(scores[u, j]), r) for r, j in enumerate(ordered, start=1)]
    return lists


# ----------------------------------------------------------------------------- helpers


def interactions_of(spark, x: np.ndarray):
    rows = [(int(u), int(j), int(x[u, j])) for u, j in zip(*np.nonzero(x), strict=True)]
    return spark.createDataFrame(rows, S.INTERACTIONS_SCHEMA)


def neighbours_of(frame) -> dict[tuple[int, int], tuple[float, int]]:
    return {(r[S.SONG], r[S.NEIGHBOUR]): (r[S.SIMILARITY], r[S.RANK]) for r in frame.collect()}


def assert_same_lists(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, (sim, rank) in expected.items():
        assert got[key][1] == rank, key
        assert got[key][0] == pytest.approx(sim, rel=1e-6), key


def random_plays(seed: int, users: int, songs: int, density: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.random((users, songs)) < density).astype(np.int64)
    return x * rng.integers(1, 5, size=x.shape)  # play counts: ignored by the model


def lists_of(recs) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for r in recs.orderBy(S.USER, S.RANK).collect():
        out.setdefault(r[S.USER], []).append((r[S.SONG], r[S.SCORE], r[S.RANK]))
    return out


# ----------------------------------------------------------------------------- similarities


def test_the_dense_reference_itself_on_hand_computed_values():
    # songs 0 and 1: both played by users 0, 1 and 4; each has 4 listeners
    assert dense_similarity(HAND_BUILT, 0.5, 1.0)[0, 1] == pytest.approx(3 / 4)
    # songs 0 and 5: only user 4 played both; 4 and 3 listeners
    assert dense_similarity(HAND_BUILT, 0.85, 1.0)[0, 5] == pytest.approx(1 / (4**0.85 * 3**0.15))
    assert dense_similarity(HAND_BUILT, 0.85, 1.0)[5, 0] == pytest.approx(1 / (3**0.85 * 4**0.15))
    assert dense_similarity(HAND_BUILT, 0.5, 3.0)[0, 1] == pytest.approx((3 / 4) ** 3)


@pytest.mark.parametrize(
    "a, q, k",
    [(0.5, 1.0, 5), (0.15, 1.0, 5), (0.85, 1.0, 5), (0.5, 3.0, 5), (0.3, 2.0, 2), (0.5, 1.0, 2)],
)
def test_similarities_on_a_hand_built_matrix_match_the_dense_reference(spark, a, q, k):
    got = coplay.coplay_neighbours(
        interactions_of(spark, HAND_BUILT), k, asymmetry=a, locality=q, max_songs_per_user=0
    )
    assert [f.name for f in got.schema.fields] == [f.name for f in S.NEIGHBOURS_SCHEMA.fields]
    assert_same_lists(neighbours_of(got), dense_top_k(dense_similarity(HAND_BUILT, a, q), k))


def test_ties_go_to_the_smaller_neighbour(spark):
    # song 0's cosines: 3/sqrt(12) with song 3, then 3/4 with songs 1 and 2 (a tie), 2/4 with 4
    got = neighbours_of(
        coplay.coplay_neighbours(interactions_of(spark, HAND_BUILT), 3, max_songs_per_user=0)
    )
    assert sorted((r, j) for (i, j), (_, r) in got.items() if i == 0) == [(1, 3), (2, 1), (3, 2)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k: expected a positive integer"),
        ({"asymmetry": 1.5}, "asymmetry"),
        ({"locality": -1.0}, "locality"),
        ({"max_songs_per_user": -2}, "max_songs_per_user"),
    ],
)
def test_bad_settings_are_refused_by_name(spark, kwargs, message):
    args = {"k": 3, **kwargs}
    k = args.pop("k")
    with pytest.raises(NeighbourError, match=message):
        coplay.coplay_neighbours(interactions_of(spark, HAND_BUILT), k, **args)


# ----------------------------------------------------------------------------- the pair bound


@pytest.fixture(scope="module")
def uneven(spark):
    """40 users who played 1 to 30 of 60 songs: a few heavy users over the cap."""
    rng = np.random.default_rng(11)
    x = np.zeros((40, 60), dtype=np.int64)
    for u in range(40):
        x[u, rng.choice(60, size=1 + (u * 29) // 39, replace=False)] = 1
    return x, interactions_of(spark, x).persist()


def _samples(frame) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for r in frame.collect():
        out.setdefault(r[S.USER], set()).add(r[S.SONG])
    return out


def test_the_cap_bounds_the_pairs_and_its_sample_is_seeded_and_deterministic(uneven):
    x, interactions = uneven
    cap = 6
    n_u = x.sum(axis=1)
    kept = np.minimum(n_u, cap)
    capped = coplay.capped_plays(interactions, cap, seed=3)
    sample = _samples(capped)
    assert {u: len(s) for u, s in sample.items()} == dict(enumerate(kept.tolist()))
    assert all(s <= set(np.flatnonzero(x[u]).tolist()) for u, s in sample.items())
    pairs = coplay.co_play_pairs(coplay.capped_lists(interactions, cap, seed=3)).count()
    assert pairs == int((kept * (kept - 1) // 2).sum())  # each pair of a user's songs once
    assert pairs <= int((kept**2).sum())  # the bound the docstring promises
    assert coplay.co_play_pairs(coplay.capped_lists(interactions, 0, 3)).count() == int(
        (n_u * (n_u - 1) // 2).sum()
    )
    # the same songs from reshuffled, repartitioned input; other songs under another seed
    reshuffled = interactions.orderBy(F.rand(5)).repartition(7)
    assert _samples(coplay.capped_plays(reshuffled, cap, seed=3)) == sample
    reseeded = _samples(coplay.capped_plays(interactions, cap, seed=4))
    heavy = [u for u in range(40) if n_u[u] > cap]
    assert any(reseeded[u] != sample[u] for u in heavy)
    # a hash sample, not the smallest ids
    assert any(sample[u] != set(np.flatnonzero(x[u])[:cap].tolist()) for u in heavy)


def test_capped_similarities_are_the_asymmetric_cosine_of_the_capped_matrix(uneven):
    x, interactions = uneven
    capped = np.zeros_like(x)
    for u, songs in _samples(coplay.capped_plays(interactions, 6, seed=3)).items():
        capped[u, sorted(songs)] = 1
    got = coplay.coplay_neighbours(
        interactions, 4, asymmetry=0.3, locality=2.0, max_songs_per_user=6, seed=3
    )
    assert_same_lists(neighbours_of(got), dense_top_k(dense_similarity(capped, 0.3, 2.0), 4))


# ----------------------------------------------------------------------------- user scores


def test_score_block_excludes_fills_with_zeros_and_stops_at_the_catalogue():
    song_ids = np.array([2, 5, 7, 9], dtype=np.int32)
    # song 2 -> 5 (0.5), 7 (0.25); song 5 -> 2 (0.5), 9 (0.25)
    index = NeighbourIndex.build(
        song_ids,
        np.array([2, 2, 5, 5]),
        np.array([5, 7, 2, 9]),
        np.array([0.5, 0.25, 0.5, 0.25], dtype=np.float32),
    )
    played = [np.array([2]), np.array([2, 5]), None, np.array([2, 5, 7, 9]), np.array([40])]
    rows, songs, scores, ranks = score_block(played, index.matrix(), index.song_ids, 3)
    got: dict[int, list[tuple]] = {}
    for r, s, sc, k in zip(rows, songs, scores, ranks, strict=True):
        got.setdefault(int(r), []).append((int(s), float(sc), int(k)))
    assert got == {
        0: [(5, 0.5, 1), (7, 0.25, 2), (9, 0.0, 3)],
        1: [(7, 0.25, 1), (9, 0.25, 2)],  # only two songs left unplayed
        2: [(2, 0.0, 1), (5, 0.0, 2), (7, 0.0, 3)],  # nothing played: zeros in id order
        4: [(2, 0.0, 1), (5, 0.0, 2), (7, 0.0, 3)],  # a song outside the catalogue
    }


@pytest.fixture(scope="module")
def scored_model(spark, tmp_path_factory):
    from tests.support import make_config

    x = random_plays(seed=23, users=25, songs=30, density=0.2)
    x[7] = 0  # a user with no plays: no list
    x[3, :] = 0
    x[3, [4]] = 2  # a user with one song
    cfg = make_config(
        tmp_path_factory.mktemp("itemknn"),
        "itemknn.k=4",
        "itemknn.asymmetry=0.3",
        "itemknn.locality=2.0",
        "itemknn.max_songs_per_user=0",
        "itemknn.block_size=4",
        "itemknn.score_partitions=3",
    )
    interactions = interactions_of(spark, x).persist()
    model = ItemKNNRecommender(cfg.itemknn).fit(interactions)
    yield x, cfg, interactions, model
    model.release()
    interactions.unpersist()


def test_user_scores_match_the_dense_reference(scored_model):
    x, cfg, _, model = scored_model
    n = 8
    expected = dense_scores(x, dense_similarity(x, 0.3, 2.0), 4, n)
    got = lists_of(model.recommend(None, n))
    assert sorted(got) == sorted(expected)
    for user, rows in expected.items():
        assert [s for s, _, _ in got[user]] == [s for s, _, _ in rows], user
        assert [r for _, _, r in got[user]] == [r for _, _, r in rows]
        assert [sc for _, sc, _ in got[user]] == pytest.approx([sc for _, sc, r in rows], rel=1e-6)
    assert any(sc == 0.0 for rows in got.values() for _, sc, _ in rows)  # the fill was needed


def test_scores_do_not_depend_on_blocks_or_partitions_and_a_table_rebuilds_the_model(
    spark, scored_model
):
    import dataclasses

    x, cfg, interactions, model = scored_model
    users = spark.createDataFrame([(0,), (3,), (7,), (12,), (99,)], f"{S.USER} int")
    first = lists_of(model.recommend(users, 6))
    assert sorted(first) == [0, 3, 12]  # users without plays get nothing
    wide = dataclasses.replace(cfg.itemknn, block_size=1000, score_partitions=1)
    table = model.similar_items(4)
    rebuilt = ItemKNNRecommender.from_neighbours(wide, interactions, table)
    assert lists_of(rebuilt.recommend(users, 6)) == first
    assert neighbours_of(rebuilt.similar_items(3)) == neighbours_of(model.similar_items(3))
    rebuilt.release()


# ----------------------------------------------------------------------------- real data


def test_similarities_on_the_real_taste_profile_excerpt_match_a_sparse_reference(
    spark, shared_data
):
    import pandas as pd
    import scipy.sparse as sp

    triplets = pd.read_csv(
        shared_data / "taste_profile_triplets.sample.txt",
        sep="\t",
        names=["user", "song", "plays"],
        dtype={"user": str, "song": str, "plays": np.int32},
    )
    users = pd.factorize(triplets["user"])[0].astype(np.int32)
    songs = pd.factorize(triplets["song"])[0].astype(np.int32)
    interactions = spark.createDataFrame(
        pd.DataFrame({S.USER: users, S.SONG: songs, S.PLAYS: triplets["plays"]}),
        S.INTERACTIONS_SCHEMA,
    )
    k, a = 10, 0.7
    got = neighbours_of(
        coplay.coplay_neighbours(interactions, k, asymmetry=a, max_songs_per_user=0)
    )
    x = sp.csr_matrix((np.ones(users.size), (users, songs)))
    x.data[:] = 1.0
    c = (x.T @ x).tocoo()
    n = np.asarray(x.sum(axis=0)).ravel()
    off = c.row != c.col
    i, j, cij = c.row[off], c.col[off], c.data[off]
    sim = (cij / (n[i] ** a * n[j] ** (1 - a))).astype(np.float32)
    order = np.lexsort((j, -sim, i))
    i, j, sim = i[order], j[order], sim[order]
    rank = np.arange(i.size) - np.searchsorted(i, i, side="left") + 1
    top = rank <= k
    expected = {
        (int(s), int(t)): (float(v), int(r))
        for s, t, v, r in zip(i[top], j[top], sim[top], rank[top], strict=True)
    }
    assert len(expected) > 20_000  # 5,175 songs, most with a full list
    assert_same_lists(got, expected)
