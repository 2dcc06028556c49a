"""Implicit ALS: confidence functions, a known-answer fit, the validation split.

The train-als step itself is in tests/integration/test_als_step.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from chispa import assert_approx_column_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.models import als
from recsys.similarity import topn

# Tiny data: one ALS block each way keeps the task count (and the tests' time) down.
ONE_BLOCK = ("als.num_user_blocks=1", "als.num_item_blocks=1")

# ----------------------------------------------------------------------------- confidence

# Hand-checked: ln 2 = 0.693147, ln 4 = 1.386294, ln 11 = 2.397895, ln 3 = 1.098612.
CONFIDENCE_CASES = [
    # method, alpha, eps, plays, expected confidence
    ("raw", 2.0, 1.0, 1, 3.0),
    ("raw", 2.0, 1.0, 10, 21.0),
    ("log", 2.0, 1.0, 1, 1 + 2 * 0.693147),
    ("log", 2.0, 1.0, 3, 1 + 2 * 1.386294),
    ("log", 2.0, 1.0, 10, 1 + 2 * 2.397895),
    ("log", 40.0, 0.5, 1, 1 + 40 * 1.098612),
    ("binary", 2.0, 1.0, 1, 3.0),
    ("binary", 2.0, 1.0, 500, 3.0),
]


@pytest.mark.parametrize("method", ["raw", "log", "binary"])
def test_confidence_matches_hand_checked_values(spark, method):
    cases = [c for c in CONFIDENCE_CASES if c[0] == method]
    schema = T.StructType(
        [
            T.StructField("alpha", T.DoubleType()),
            T.StructField("eps", T.DoubleType()),
            T.StructField(S.PLAYS, T.IntegerType()),
            T.StructField("expected", T.DoubleType()),
        ]
    )
    rows = [(a, e, p, want) for _, a, e, p, want in cases]
    df = spark.createDataFrame(rows, schema)
    parts = []
    for alpha, eps in sorted({(a, e) for a, e, _, _ in rows}):
        conf = als.confidence(method, alpha, eps)
        part = df.where((F.col("alpha") == alpha) & (F.col("eps") == eps))
        parts.append(part.withColumn("confidence", conf(F.col(S.PLAYS))))
    result = parts[0]
    for part in parts[1:]:
        result = result.unionByName(part)
    assert_approx_column_equality(result, "confidence", "expected", 1e-4)


def test_preference_strength_is_what_spark_multiplies_by_alpha(spark):
    df = spark.createDataFrame([(1,), (3,)], f"{S.PLAYS} int")
    got = df.select(als.preference_strength("log", 1.0)(F.col(S.PLAYS)).alias("r")).collect()
    assert [round(r.r, 5) for r in got] == [round(math.log(2), 5), round(math.log(4), 5)]
    with pytest.raises(ValueError, match="squared"):
        als.preference_strength("squared")
    with pytest.raises(ValueError, match="eps"):
        als.preference_strength("log", 0.0)


# ----------------------------------------------------------------------------- known answer


def checkerboard(spark, seed=0, users_per_group=12, songs_per_group=10, played=6):
    """Two user groups x two song groups; a user plays ``played`` songs of its own group."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(2 * users_per_group):
        group = user // users_per_group
        songs = rng.choice(songs_per_group, played, replace=False) + group * songs_per_group
        rows.extend((user, int(s), int(rng.integers(1, 6))) for s in songs)
    return spark.createDataFrame(rows, S.INTERACTIONS_SCHEMA)


def test_checkerboard_top_n_stays_in_the_users_block(spark, cfg_factory):
    # Rank 2 = the number of blocks; a larger rank spends factors on single users' gaps.
    cfg = cfg_factory("als.rank=2", "als.reg_param=0.01", "als.max_iter=10", *ONE_BLOCK)
    interactions = checkerboard(spark)
    with als.released_rdds(spark):
        model = als.fit_als(interactions, cfg.als)
        users, items = als.user_factors(model), als.item_factors(model)
        assert users.schema[S.FEATURES].dataType.elementType == T.FloatType()
        assert items.count() == 20 and users.count() == 24
        recs = topn.recommend_top_n(users, items, interactions, 4).collect()
    by_user: dict[int, set[int]] = {}
    for r in recs:
        by_user.setdefault(r[S.USER], set()).add(r[S.SONG])
    played: dict[int, set[int]] = {}
    for r in interactions.collect():
        played.setdefault(r[S.USER], set()).add(r[S.SONG])
    assert sorted(by_user) == list(range(24))
    for user, songs in by_user.items():
        block = set(range(10)) if user < 12 else set(range(10, 20))
        assert songs == block - played[user], f"user {user} got {sorted(songs)}"


@pytest.mark.parametrize("method", ["exact", "lsh"])
def test_neighbours_from_config_stay_in_the_songs_cluster(spark, cfg_factory, method):
    rng = np.random.default_rng(2)
    centres = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0]])
    vectors = np.concatenate([c + 0.1 * rng.normal(size=(10, 4)) for c in centres])
    items = spark.createDataFrame(
        [(i, [float(x) for x in v]) for i, v in enumerate(vectors)],
        f"{S.SONG} int, {S.FEATURES} array<float>",
    )
    cfg = cfg_factory(
        f"als.neighbours_method={method}", "als.neighbours_k=3", "als.lsh_bucket_length=1.0"
    )
    rows = als.neighbours_from_factors(items, cfg.als).collect()
    assert {r[S.SONG] for r in rows} == set(range(20))
    for r in rows:
        assert r[S.SONG] // 10 == r[S.NEIGHBOUR] // 10 and r[S.SONG] != r[S.NEIGHBOUR]
        assert 1 <= r[S.RANK] <= 3
