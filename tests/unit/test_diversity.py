"""Diversity scored in numpy against broadcast vectors equals the Spark expression it replaced
(unit vectors in double, gathered per user by ``collect_list``, summed by array functions)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.columns import sum_arrays, unit_array
from recsys.evaluation import diversity
from recsys.evaluation import metrics as E
from recsys.similarity import ship, topn


def spark_diversity(top, item_vectors, ks):
    """The Spark formulation (``metrics._diversity_from_top`` before the broadcast)."""
    vector = F.col(S.FEATURES).cast("array<double>")
    units = item_vectors.select(S.SONG, unit_array(vector).alias("unit")).where(
        F.col("unit").isNotNull()
    )
    lists = (
        top.join(units, S.SONG)
        .groupBy(S.USER)
        .agg(F.sort_array(F.collect_list(F.struct(E.POSITION, "unit"))).alias("items"))
    )
    means = []
    for k in ks:
        vectors = F.transform(F.filter("items", E._at_most(k, E.POSITION)), lambda x: x["unit"])
        total = sum_arrays(vectors)
        squared = F.aggregate(total, F.lit(0.0), lambda acc, x: acc + x * x)
        n = F.size(vectors).cast("double")
        ild = F.greatest(F.lit(0.0), 1.0 - (squared - n) / (n * (n - 1.0)))
        means.append(F.avg(F.when(F.size(vectors) >= 2, ild)).alias(str(k)))
    row = lists.agg(*means).first()
    return {k: row[str(k)] for k in ks}


@pytest.fixture(scope="module")
def case(spark):
    """200 users' lists of up to 30 of 500 songs; real-valued float vectors, some songs
    without a vector, some all-zero, one NaN."""
    rng = np.random.default_rng(3)
    top = [
        (u, int(s), p + 1)
        for u in range(200)
        for p, s in enumerate(rng.choice(500, int(rng.integers(0, 30)), replace=False))
    ]
    vectors = []
    for s in range(500):
        if s % 7 == 0:
            continue  # no vector
        v = rng.normal(size=16).astype(np.float32)
        if s % 11 == 0:
            v[:] = 0.0
        if s == 13:
            v[2] = np.nan
        vectors.append((s, [float(x) for x in v]))
    return (
        spark.createDataFrame(top, f"{S.USER} int, {S.SONG} int, {E.POSITION} int"),
        spark.createDataFrame(vectors, f"{S.SONG} int, {S.FEATURES} array<float>"),
    )


def test_equals_the_spark_expression(case):
    top, vectors = case
    ks = [1, 2, 5, 10, 30]
    got = diversity.diversity_from_top(top, vectors, ks, S.USER, S.SONG, S.FEATURES, E.POSITION)
    want = spark_diversity(top, vectors, ks)
    assert got[1] is None and want[1] is None  # no list of one song has two vectors
    for k in ks[1:]:
        assert 0.5 < got[k] < 1.5
        assert got[k] == pytest.approx(want[k], rel=0, abs=1e-13)


def test_shipped_vectors_give_the_same_diversity_and_never_reach_the_driver(
    spark, case, tmp_path, monkeypatch
):
    top, vectors = case
    ks = [2, 10, 30]
    ship.configure(None)
    want = diversity.diversity_from_top(top, vectors, ks, S.USER, S.SONG, S.FEATURES, E.POSITION)
    built_on_driver = []
    real = diversity.listed_units
    monkeypatch.setattr(
        diversity, "listed_units", lambda g: built_on_driver.append(1) or real(g), raising=True
    )
    ship.configure(None)
    diversity.diversity_from_top(top, vectors, ks, S.USER, S.SONG, S.FEATURES, E.POSITION)
    assert built_on_driver == [1]  # unconfigured: built here and broadcast
    root = tmp_path / "ship"
    ship.configure(str(root))
    try:
        before = topn.live_broadcasts()
        got = diversity.diversity_from_top(top, vectors, ks, S.USER, S.SONG, S.FEATURES, E.POSITION)
        assert topn.live_broadcasts() == before  # released before it returned
        assert any(p.suffix == ".parquet" for p in root.rglob("*"))  # went through files
    finally:
        assert ship.clear(spark)
    assert built_on_driver == [1]  # shipped: a worker built it (the driver's list is not its)
    assert got == want  # to the bit: the same chunks, unpacked by a worker


def test_unit_rows_as_unit_array(spark):
    rows = np.array([[3.0, 4.0], [0.0, 0.0], [np.nan, 1.0], [1e-3, 2e-3]], dtype=np.float32)
    units, ok = diversity.unit_rows(rows)
    assert ok.tolist() == [True, False, False, True]
    frame = spark.createDataFrame([([float(x) for x in r],) for r in rows], "v array<float>")
    want = frame.select(unit_array(F.col("v").cast("array<double>")).alias("u")).collect()
    for i in (0, 3):
        assert units[i].tolist() == want[i]["u"]  # to the bit
    assert want[1]["u"] is None and want[2]["u"] is None
