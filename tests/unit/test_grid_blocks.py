"""The blend fit's grid scored inside the blocks equals the Spark ranking and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.config import HybridConfig
from recsys.evaluation import grid_blocks
from recsys.evaluation.metrics import per_user_ranking_metrics
from recsys.models import hybrid
from tests.unit.test_pool import random_tables  # noqa: F401  (the fixture)

POINTS = (
    grid_blocks.Point(None, 0.0, 0.3, 0.0),
    grid_blocks.Point(1.0, 0.0, 0.5, 0.2),
    grid_blocks.Point(0.4, 0.5, 0.0, 0.1),
    grid_blocks.Point(0.0, 2.0, 0.2, 0.0),
)


def _hidden(spark, pool: pd.DataFrame) -> pd.DataFrame:
    """Per user with a pool, three of its pooled songs and two random songs (hits and
    misses); users 0-4 (no pool) hide songs too."""
    rng = np.random.default_rng(5)
    rows = []
    for u, group in pool.groupby(S.USER):
        songs = group[S.SONG].to_numpy()
        rows += [(int(u), int(s)) for s in rng.choice(songs, min(3, songs.size), replace=False)]
        rows += [(int(u), int(s)) for s in rng.choice(400, 2)]
    rows += [(u, 1) for u in range(5)]
    return pd.DataFrame(rows, columns=[S.USER, S.SONG]).drop_duplicates()


@pytest.mark.parametrize("metric", ["ndcg", "map", "precision", "recall"])
def test_grid_values_equal_the_spark_ranking_and_metrics(spark, random_tables, metric):  # noqa: F811
    interactions, users, songs, cf_topn, relation, signals, item_topn = random_tables
    songs = songs.withColumn(  # songs without an artist: never capped
        S.ARTIST, F.when(F.col(S.SONG) % 11 == 3, F.lit(None)).otherwise(F.col(S.ARTIST))
    )
    cfg = HybridConfig(
        top_n=6,
        extra_candidates=4,
        alpha=0.5,
        alpha_curve=[[1, 0.2], [10, 0.9]],
        max_per_artist=1,
        cold_slots=1,
        novelty=0.1,
    )
    depth, k = 5, 4
    pool_depth = hybrid.pool_size(cfg, depth)
    inputs = dict(
        interactions=interactions,
        users=users,
        cf_topn=cf_topn,
        relation=relation,
        cfg=cfg,
        signals=signals,
        item_topn=item_topn,
    )
    pool = hybrid.user_candidates(songs=songs, content_depth=pool_depth, **inputs).persist()
    hidden_pd = _hidden(spark, pool.select(S.USER, S.SONG).toPandas())
    hidden = spark.createDataFrame(hidden_pd, f"{S.USER} int, {S.SONG} int")
    broadcast, rows = hybrid.ranked_inputs(songs, **inputs)
    lists = hidden.groupBy(S.USER).agg(F.collect_list(S.SONG).alias(grid_blocks.HIDDEN))
    grid = grid_blocks.Grid(POINTS, depth, cfg.novelty, cfg.max_per_artist, 1, metric, k)
    got = grid_blocks.grid_values(rows.join(lists, S.USER), broadcast, grid, pool_depth)
    got = got.toPandas()
    assert got[grid_blocks.FIXED].max() > 0  # some hits
    column = f"{metric}_at_{k}"
    for i, p in enumerate(POINTS):
        ranked = hybrid.rank_candidates(
            pool,
            cfg.novelty,
            cfg.max_per_artist,
            depth,
            p.alpha,
            p.popularity_exponent,
            1,
            item_weight=p.item_weight,
            popularity_weight=p.popularity_weight,
        )
        want = per_user_ranking_metrics(ranked, hidden, [k]).toPandas().set_index(S.USER)[column]
        mine = got[got[grid_blocks.POINT] == i].set_index(S.USER)[grid_blocks.FIXED]
        mine = (mine / grid_blocks.SCALE).reindex(want.index, fill_value=0.0)
        assert set(got[S.USER]) <= set(want.index)
        assert (want > 0).sum() > 10
        np.testing.assert_allclose(mine.to_numpy(), want.to_numpy(), rtol=0, atol=2e-12)
    pool.unpersist()


def test_user_metric_by_hand():
    """Two users, k = 3: hits at positions 1 and 3 of user 0 (two hidden songs), none of
    user 1 (one hidden song)."""
    key = np.int64(1) << 31
    hidden_key = np.sort(np.array([0 * key + 10, 0 * key + 30, 1 * key + 99]))
    ranked = pd.DataFrame(
        {
            "_row": [0, 0, 0, 0, 1, 1],
            S.SONG: [10, 20, 30, 40, 10, 30],
            S.RANK: [1, 2, 3, 4, 1, 2],
        }
    )
    users, n_rel = np.array([7, 8]), np.array([2, 1])

    def value(metric):
        return grid_blocks.user_metric(users, n_rel, hidden_key, ranked, metric, 3)

    np.testing.assert_allclose(value("precision"), [2 / 3, 0.0])
    np.testing.assert_allclose(value("recall"), [1.0, 0.0])
    ideal = 1 + 1 / np.log2(3)
    np.testing.assert_allclose(value("ndcg"), [(1 + 1 / np.log2(4)) / ideal, 0.0])
    np.testing.assert_allclose(value("map"), [(1 + 2 / 3) / 2, 0.0])
