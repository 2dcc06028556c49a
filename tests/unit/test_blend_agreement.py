"""The Spark hybrid and the pandas re-blend the viewer uses give the same lists."""

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.models import blend, hybrid

from .test_hybrid import POOL_SCHEMA


@pytest.fixture(scope="module")
def random_pool(spark):
    rng = np.random.default_rng(3)
    n_users, per_user = 60, 25
    pool = pd.DataFrame(
        {
            S.USER: np.repeat(np.arange(n_users), per_user).astype("int32"),
            S.SONG: np.concatenate(
                [rng.choice(500, per_user, replace=False) for _ in range(n_users)]
            ),
            # a 0.01 grid makes near-ties common
            S.CF_SCORE: rng.integers(0, 101, n_users * per_user) / 100,
            S.CONTENT_SCORE: rng.integers(0, 101, n_users * per_user) / 100,
            # a fifth of the songs nobody played (popularity 0): the cold slots' candidates
            S.POPULARITY: np.where(
                rng.random(n_users * per_user) < 0.2, 0, rng.integers(1, 101, n_users * per_user)
            )
            / 100,
            S.ALPHA: np.repeat(rng.integers(0, 11, n_users) / 10, per_user),
            S.ARTIST: [
                f"artist{i}" if i < 6 else None for i in rng.integers(0, 8, n_users * per_user)
            ],
            S.REASON_SONG: None,
        }
    )
    pool = pool.astype(
        {
            S.SONG: "int32",
            S.CF_SCORE: "float32",
            S.CONTENT_SCORE: "float32",
            S.POPULARITY: "float32",
            S.ALPHA: "float32",
        }
    )
    return pool, spark.createDataFrame(pool, POOL_SCHEMA)


@pytest.mark.parametrize(
    "alpha, novelty, cap, top_n, gamma, slots",
    [
        (None, 0.0, 0, 10, 0.0, 0),
        (0.3, 0.0, 2, 10, 0.0, 0),
        (None, 0.4, 1, 8, 0.0, 0),
        (1.0, 0.2, 0, 25, 0.0, 0),
        (None, 0.0, 0, 10, 2.0, 2),
        (0.6, 0.1, 2, 10, 1.5, 3),
        (0.0, 0.0, 1, 5, 3.0, 1),
    ],
)
def test_spark_and_pandas_rank_identically(random_pool, alpha, novelty, cap, top_n, gamma, slots):
    pool, pool_df = random_pool
    spark_rows = (
        hybrid.rank_candidates(pool_df, novelty, cap, top_n, alpha, gamma, slots)
        .select(S.USER, S.RANK, S.SONG, S.SCORE)
        .toPandas()
        .sort_values([S.USER, S.RANK])
        .reset_index(drop=True)
    )
    pandas_rows = (
        blend.rerank(pool, alpha, novelty, cap, top_n, gamma, slots)[
            [S.USER, S.RANK, S.SONG, S.SCORE]
        ]
        .sort_values([S.USER, S.RANK])
        .reset_index(drop=True)
    )
    assert len(spark_rows) == len(pandas_rows) > 0
    if slots:  # the cold slots are in use, at the ends of the lists
        cold = set(pool.loc[pool[S.POPULARITY] == 0, [S.USER, S.SONG]].itertuples(index=False))
        is_cold = [
            (u, s) in cold for u, s in zip(spark_rows[S.USER], spark_rows[S.SONG], strict=True)
        ]
        assert 0 < sum(is_cold) <= slots * pool[S.USER].nunique()
    assert (spark_rows[S.SONG].to_numpy() == pandas_rows[S.SONG].to_numpy()).all()
    assert (spark_rows[S.RANK].to_numpy() == pandas_rows[S.RANK].to_numpy()).all()
    np.testing.assert_array_equal(
        spark_rows[S.SCORE].to_numpy(np.float32), pandas_rows[S.SCORE].to_numpy(np.float32)
    )


def test_alpha_curve_agrees(spark):
    curve = [[1, 0.2], [5, 0.5], [20, 0.7]]
    n = list(range(0, 30))
    df = spark.createDataFrame([(float(x),) for x in n], "n double")
    got = [
        r["a"]
        for r in df.select(hybrid.alpha_column(F.col("n"), curve, 0.9).alias("a"))
        .orderBy("n")
        .collect()
    ]
    want = blend.alpha_for_plays(np.array(n, dtype=float), curve, 0.9)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
