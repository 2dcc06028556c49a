"""ALS solved in numpy blocks (``als.solver: blocks``): the solve against a dense reference,
the fit against a dense re-implementation and Spark ML's ALS, independence from the blocks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from recsys import schemas as S
from recsys.errors import ModelError
from recsys.models import als, block_als
from recsys.similarity import topn
from tests.unit.test_als import ONE_BLOCK, checkerboard


def dense_solve(rated, strength, fixed, reg, alpha):
    """One row's factor, written out from the normal equations (float64)."""
    y = fixed[rated].astype(np.float64)
    c1 = alpha * strength.astype(np.float64)
    lhs = (
        fixed.astype(np.float64).T @ fixed + (y.T * c1) @ y + reg * len(rated) * np.eye(y.shape[1])
    )
    return np.linalg.solve(lhs, y.T @ (1.0 + c1))


def random_csr(rng, rows, columns, max_count):
    counts = rng.integers(1, max_count + 1, rows).astype(np.int32)
    others = np.concatenate([np.sort(rng.choice(columns, c, replace=False)) for c in counts])
    strength = rng.gamma(1.0, 1.0, len(others)).astype(np.float32)
    return counts, others.astype(np.int32), strength


def test_solve_rows_matches_the_normal_equations_row_by_row(monkeypatch):
    rng = np.random.default_rng(3)
    ids = np.arange(0, 120, 2, dtype=np.int32)  # sparse ids: positions are looked up
    fixed = rng.normal(size=(len(ids), 5)).astype(np.float32)
    counts, cols, strength = random_csr(rng, 40, len(ids), 33)  # counts across 6 length classes
    # Few elements per group: rows of one class split over several batches.
    monkeypatch.setattr(block_als, "GROUP_ELEMENTS", 300)
    got = block_als.solve_rows(
        counts, ids[cols], strength, block_als._with_gram((ids, fixed)), 0.3, 7.0
    )
    offsets = np.r_[0, np.cumsum(counts)]
    want = np.stack(
        [
            dense_solve(cols[a:b], strength[a:b], fixed, 0.3, 7.0)
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
    )
    assert got.dtype == np.float32 and got.shape == (40, 5)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


def test_solve_rows_names_an_id_the_factors_lack():
    ids = np.array([1, 2, 3], dtype=np.int32)
    fixed = block_als._with_gram((ids, np.eye(3, dtype=np.float32)))
    counts, strength = np.array([2], np.int32), np.ones(2, np.float32)
    with pytest.raises(ModelError, match="lack"):
        block_als.solve_rows(counts, np.array([2, 9], np.int32), strength, fixed, 0.1, 1.0)


def test_initial_factors_are_unit_rows_of_seed_and_id_alone():
    ids = np.array([5, 0, 7], dtype=np.int32)
    a = block_als.initial_factors(ids, 8, seed=1)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(block_als.initial_factors(ids[::-1], 8, 1), a[::-1])
    assert not np.allclose(block_als.initial_factors(ids, 8, seed=2), a)
    assert np.unique(a.round(6), axis=0).shape[0] == 3


def test_chunk_bounds_keep_rows_whole_and_chunks_under_the_cap():
    counts = np.array([3, 3, 3, 10, 1, 1], dtype=np.int32)
    assert block_als._chunk_bounds(counts, 6) == [(0, 2), (2, 3), (3, 4), (4, 6)]
    assert block_als._chunk_bounds(counts[:0], 6) == []


def dense_fit(triplets, users, songs, cfg):
    """The same algorithm on dense numpy arrays: init users, then songs-then-users sweeps."""
    user_pos = {u: i for i, u in enumerate(users)}
    song_pos = {s: i for i, s in enumerate(songs)}
    strength = np.zeros((len(users), len(songs)))
    for u, s, plays in triplets:
        strength[user_pos[u], song_pos[s]] = np.log1p(plays)
    x = block_als.initial_factors(np.array(users), cfg.rank, cfg.seed).astype(np.float64)
    y = None

    def sweep(fixed, table):
        out = []
        for row in table:
            rated = np.flatnonzero(row)
            out.append(dense_solve(rated, row[rated], fixed, cfg.reg_param, cfg.alpha))
        return np.array(out, dtype=np.float32)

    for _ in range(cfg.max_iter):
        y = sweep(x.astype(np.float32), strength.T)
        x = sweep(y, strength)
    return x, y


def factors(df, id_col):
    rows = sorted(df.collect(), key=lambda r: r[id_col])
    return [r[id_col] for r in rows], np.array([r[S.FEATURES] for r in rows])


def test_fit_matches_the_dense_algorithm_whatever_the_blocks(spark, cfg_factory):
    interactions = checkerboard(spark, seed=4)
    triplets = [tuple(r) for r in interactions.collect()]
    users = sorted({t[0] for t in triplets})
    songs = sorted({t[1] for t in triplets})
    got = {}
    # 1 and 3 blocks shipped between the half-iterations, then the whole fit in one task, on
    # one thread and on three
    for blocks, one_task, threads in ((1, 0, 0), (3, 0, 0), (2, 1000, 1), (4, 1000, 3)):
        cfg = cfg_factory(
            "als.rank=3", "als.max_iter=4", "als.reg_param=0.05",
            f"als.num_user_blocks={blocks}", f"als.num_item_blocks={blocks}",
            f"als.one_task_max_ratings={one_task}", f"als.one_task_threads={threads}",
        )  # fmt: skip
        with als.released_rdds(spark):
            model = als.AlsRecommender(cfg.als).fit(interactions)
            assert model.model is None
            got[blocks] = factors(model.user_factors, S.USER), factors(model.item_factors, S.SONG)
    (user_ids, x), (song_ids, y) = got[1]
    assert user_ids == users and song_ids == songs
    for other in (3, 2, 4):  # neither the partitioning, the one-task path nor threads change a bit
        np.testing.assert_array_equal(got[other][0][1], x)
        np.testing.assert_array_equal(got[other][1][1], y)
    want_x, want_y = dense_fit(triplets, users, songs, cfg.als)
    np.testing.assert_allclose(x, want_x, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(y, want_y, rtol=1e-3, atol=1e-4)


def implicit_loss(x, y, strength, reg, alpha):
    """Spark's implicit objective: confidence-weighted squared error + count-scaled L2."""
    rated = strength > 0
    pred = x @ y.T
    conf = 1.0 + alpha * strength
    err = np.where(rated, conf * (1.0 - pred) ** 2, pred**2).sum()
    return err + reg * (rated.sum(1) @ (x**2).sum(1) + rated.sum(0) @ (y**2).sum(1))


def test_fit_reaches_spark_mls_objective_and_lists(spark, cfg_factory):
    interactions = checkerboard(spark, seed=5)
    cfg = cfg_factory("als.rank=2", "als.reg_param=0.01", "als.max_iter=10", *ONE_BLOCK)
    result = {}
    for solver in ("blocks", "spark"):
        als_cfg = dataclasses.replace(cfg.als, solver=solver)
        with als.released_rdds(spark):
            model = als.AlsRecommender(als_cfg).fit(interactions)
            (users, x), (songs, y) = (
                factors(model.user_factors, S.USER),
                factors(model.item_factors, S.SONG),
            )
            recs = topn.recommend_top_n(model.user_factors, model.item_factors, interactions, 4)
            lists = {(r[S.USER], r[S.SONG]) for r in recs.collect()}
        strength = np.zeros((len(users), len(songs)))
        for u, s, plays in interactions.collect():
            strength[users.index(u), songs.index(s)] = np.log1p(plays)
        result[solver] = implicit_loss(x, y, strength, 0.01, cfg.als.alpha), lists
    assert result["blocks"][0] <= 1.02 * result["spark"][0]
    assert result["blocks"][1] == result["spark"][1]  # each user's unplayed songs of its group


@pytest.mark.parametrize("one_task", [0, 100])
def test_fit_without_ratings_is_a_model_error(spark, cfg_factory, one_task):
    cfg = cfg_factory(*ONE_BLOCK, f"als.one_task_max_ratings={one_task}")
    empty = spark.createDataFrame([], S.INTERACTIONS_SCHEMA)
    with als.released_rdds(spark), pytest.raises(ModelError, match="no ratings"):
        als.AlsRecommender(cfg.als).fit(empty)


def test_singular_systems_fall_back_to_least_norm_solutions():
    # rank 4 against 2 songs and no regularisation: every system is singular
    ids = np.array([0, 1], dtype=np.int32)
    fixed = block_als._with_gram((ids, np.eye(2, 4, dtype=np.float32)))
    counts, cols = np.array([1, 2], np.int32), np.array([0, 0, 1], np.int32)
    got = block_als.solve_rows(counts, cols, np.ones(3, np.float32), fixed, 0.0, 1.0)
    # user 0: (1 + c1) x0 = 1 + c1 on song 0's axis; user 1 likewise on both axes
    np.testing.assert_allclose(got, [[1, 0, 0, 0], [1, 1, 0, 0]], atol=1e-6)


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_rows_solved_on_threads_are_the_same_bits(threads):
    rng = np.random.default_rng(7)
    counts = np.r_[rng.integers(1, 40, 300), [900, 1, 2000]].astype(np.int32)
    others = np.concatenate([rng.choice(3000, c, replace=False) for c in counts]).astype(np.int32)
    strength = rng.random(others.size).astype(np.float32)
    ids = np.arange(3000, dtype=np.int32)
    fixed = block_als._with_gram((ids, rng.standard_normal((3000, 6)).astype(np.float32)))
    want = block_als.solve_rows(counts, others, strength, fixed, 0.1, 10.0)
    got = block_als.solve_rows_threaded(counts, others, strength, fixed, 0.1, 10.0, threads)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("master", "conf", "cores"),
    [
        ("local[3]", {}, 3),
        ("local", {}, 1),
        ("local[5, 2]", {}, 5),
        ("local-cluster[2, 4, 4096]", {}, 4),
        ("yarn", {"spark.executor.cores": "8"}, 8),
        ("yarn", {}, 1),
    ],
)
def test_executor_cores_from_the_master_or_the_conf(master, conf, cores):
    class Context:
        def __init__(self):
            self.master = master

        def getConf(self):  # noqa: N802 - SparkContext's name
            return conf

    class Session:
        sparkContext = Context()

    assert block_als.executor_cores(Session()) == cores


@pytest.mark.parametrize(
    ("master", "registered", "limit"), [("local[2]", 1, 8000), ("yarn", 5, 2000)]
)
def test_one_task_limit_is_shared_out_among_the_executors(master, registered, limit):
    """Local mode has one executor (the driver); a cluster's status also lists the driver."""

    class Status:
        def size(self):
            return registered

    class Jvm:
        def sc(self):
            return self

        def getExecutorMemoryStatus(self):  # noqa: N802 - SparkContext's name
            return Status()

    class Context:
        def __init__(self):
            self.master, self._jsc = master, Jvm()

    class Session:
        sparkContext = Context()

    assert block_als.one_task_limit(Session(), 8000) == limit


def test_one_task_limit_of_the_test_session(spark):
    assert block_als.executors(spark) == 1
    assert block_als.one_task_limit(spark, 1234) == 1234
