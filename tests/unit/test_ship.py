"""Shipped structures (built by the executors from Parquet) against the driver broadcast."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.config.sections import ItemKnnConfig
from recsys.models.itemknn import ItemKNNRecommender
from recsys.similarity import coplay, ship, topn
from recsys.similarity.gather import gather_columns
from recsys.similarity.ship import Shipped

FEATURES = T.ArrayType(T.FloatType(), False)


@pytest.fixture
def shipping(spark, tmp_path):
    root = tmp_path / "ship"
    ship.configure(str(root))
    yield root
    ship.clear(spark)


def vectors_df(spark, ids, matrix):
    schema = T.StructType(
        [T.StructField(S.SONG, T.IntegerType(), False), T.StructField(S.FEATURES, FEATURES)]
    )
    rows = [(int(i), [float(x) for x in v]) for i, v in zip(ids, matrix, strict=True)]
    return spark.createDataFrame(rows, schema)


@pytest.fixture(scope="module")
def plays(spark):
    rng = np.random.default_rng(11)
    rows = []
    for u in range(60):
        songs = rng.choice(40, size=int(rng.integers(1, 12)), replace=False)
        rows += [(u, int(s) * 2, int(rng.integers(1, 5))) for s in songs]
    return spark.createDataFrame(rows, S.INTERACTIONS_SCHEMA)


def table(df, key) -> pd.DataFrame:
    return df.toPandas().sort_values(key).reset_index(drop=True)


def both(spark, tmp_path, make, key):
    """``make()`` broadcast from the driver, then shipped; the two tables."""
    ship.configure(None)
    want = table(make(), key)
    ship.configure(str(tmp_path / "ship"))
    try:
        before = topn.live_broadcasts()
        got = table(make(), key)
        shipped = [b for b in topn._LIVE[before:] if isinstance(b, Shipped)]
        assert shipped, "nothing was shipped"
        assert os.listdir(tmp_path / "ship")  # the files are the run's, not the driver's
    finally:
        topn.release_broadcasts()
        assert ship.clear(spark)
    assert not (tmp_path / "ship").exists()
    return got, want


def test_shipped_top_n_and_neighbours_equal_the_broadcast(spark, plays, tmp_path):
    rng = np.random.default_rng(3)
    song_ids = np.arange(0, 80, 2)
    items = vectors_df(spark, song_ids, rng.normal(size=(40, 6)).astype(np.float32))
    users = vectors_df(spark, np.arange(60), rng.normal(size=(60, 6)).astype(np.float32))
    users = users.withColumnRenamed(S.SONG, S.USER)
    got, want = both(
        spark,
        tmp_path,
        lambda: topn.recommend_top_n(users, items, plays, 5, block_size=7),
        [S.USER, S.RANK],
    )
    pd.testing.assert_frame_equal(got, want)
    assert got.groupby(S.USER).size().max() == 5
    got, want = both(spark, tmp_path, lambda: topn.exact_neighbours(items, 4), [S.SONG, S.RANK])
    pd.testing.assert_frame_equal(got, want)
    assert set(got[S.SONG]) == set(song_ids.tolist())


def test_shipped_coplay_and_item_based_equal_the_broadcast(spark, plays, tmp_path):
    got, want = both(
        spark,
        tmp_path,
        lambda: coplay.coplay_neighbours(plays, 5, song_blocks=3),
        [S.SONG, S.RANK],
    )
    pd.testing.assert_frame_equal(got, want)
    assert len(got) > 0

    def recommend():
        model = ItemKNNRecommender(ItemKnnConfig(k=5)).fit(plays)
        return model.recommend(None, 6)

    got, want = both(spark, tmp_path, recommend, [S.USER, S.RANK])
    pd.testing.assert_frame_equal(got, want)
    assert got[S.USER].nunique() > 50


def _total(cols) -> int:
    return int(cols["x"].sum())


def test_a_worker_builds_once_and_drops_what_was_destroyed(spark, shipping):
    frame = spark.range(100).selectExpr("CAST(id AS INT) AS x").repartition(3)
    first = ship.ship(spark, [gather_columns(frame, {"x": "int32"})], _total)
    assert isinstance(first, Shipped)
    assert sum(len(f) for f in first.files) == 3  # one file per partition, no more
    with pytest.raises(RuntimeError, match="executors only"):
        first.value  # noqa: B018 - the driver never builds it

    def probe(handle):
        def run(batches):
            for pdf in batches:
                yield pd.DataFrame(
                    {
                        "total": [handle.value] * len(pdf),
                        "built": [",".join(sorted(ship._BUILT))] * len(pdf),
                    }
                )

        return spark.range(4).repartition(1).mapInPandas(run, "total long, built string")

    rows = probe(first).collect()
    assert {r.total for r in rows} == {sum(range(100))}
    assert first.name in rows[0].built
    topn.destroy_broadcast(first)
    second = ship.ship(spark, [gather_columns(frame.limit(10), {"x": "int32"})], _total)
    rows = probe(second).collect()
    # a worker that had the first drops it once the driver has destroyed it
    assert all(first.name not in r.built and second.name in r.built for r in rows)
    assert shipping.exists()
    topn.release_broadcasts()


def test_unconfigured_ship_broadcasts_from_the_driver(spark):
    ship.configure(None)
    frame = spark.range(5).selectExpr("CAST(id AS INT) AS x")
    handle = ship.ship(spark, [gather_columns(frame, {"x": "int32"})], _total)
    try:
        assert not isinstance(handle, Shipped)
        assert handle.value == 10
    finally:
        topn.release_broadcasts()


def test_the_step_runner_leaves_no_scratch_folder_behind(spark, cfg_factory):
    """After a step the application's scratch folder is gone, and ``_ship`` with it, unless
    another application's folder is still there."""
    from pathlib import Path

    from recsys.steps import shipping as step_shipping

    cfg = cfg_factory()
    scratch = Path(cfg.warehouse.dir) / "runs" / "r1" / "_ship"
    with step_shipping(spark, cfg, "r1"):
        frame = spark.range(5).selectExpr("CAST(id AS INT) AS x")
        handle = ship.ship(spark, [gather_columns(frame, {"x": "int32"})], _total)
        assert isinstance(handle, Shipped) and len(list(scratch.iterdir())) == 1
        # a task fetches the added files, as a step's scoring does before the folder goes
        # (in this shared session an unfetched, deleted file would fail later tasks)
        assert frame.count() == 5
    topn.release_broadcasts()
    assert not scratch.exists() and scratch.parent.is_dir()

    other = scratch / "application_other"  # a concurrent application's scratch
    other.mkdir(parents=True)
    with step_shipping(spark, cfg, "r1"):
        ship.ship(spark, [gather_columns(frame, {"x": "int32"})], _total)
        assert frame.count() == 5
    topn.release_broadcasts()
    assert sorted(p.name for p in scratch.iterdir()) == ["application_other"]
