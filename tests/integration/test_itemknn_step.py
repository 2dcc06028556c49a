"""The train-itemknn step, and the item-based model through the pipeline on the tiny data."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.steps import train_itemknn
from recsys.storage.warehouse import Warehouse
from tests.unit.test_itemknn import (
    assert_same_lists,
    dense_similarity,
    dense_top_k,
    interactions_of,
    neighbours_of,
    random_plays,
)


def test_the_step_writes_the_co_play_lists_of_the_dense_reference(spark, cfg_factory):
    cfg = cfg_factory("itemknn.k=2", "itemknn.asymmetry=0.85", "itemknn.locality=3")
    x = random_plays(5, 12, 8, 0.4)
    wh = Warehouse.from_config(cfg)
    wh.write_table(interactions_of(spark, x), "r1", S.INTERACTIONS)
    summary = train_itemknn.run(spark, cfg, "r1")

    got = wh.read_table(spark, "r1", S.COPLAY_NEIGHBOURS)
    assert_same_lists(neighbours_of(got), dense_top_k(dense_similarity(x, 0.85, 3.0), 2))
    got = got.toPandas()
    assert summary["neighbour_rows"] == len(got) > 0
    params = wh.read_json("r1", S.ITEMKNN_PARAMS)
    assert params["params"]["k"] == 2 and params["degradations"] == []


def test_without_co_plays_the_step_writes_an_empty_table_and_says_so(spark, cfg_factory):
    cfg = cfg_factory()
    wh = Warehouse.from_config(cfg)
    one_song_each = spark.createDataFrame([(u, u, 3) for u in range(5)], S.INTERACTIONS_SCHEMA)
    wh.write_table(one_song_each, "r1", S.INTERACTIONS)
    summary = train_itemknn.run(spark, cfg, "r1")
    assert wh.read_table(spark, "r1", S.COPLAY_NEIGHBOURS).count() == 0
    assert summary["degradations"] == [
        "itemknn: no two songs share a listener (of 5 played songs), so the item-based model "
        "has no neighbours and adds nothing to the hybrid"
    ]


def test_the_pipeline_evaluates_the_item_based_model_and_shows_co_plays(spark, tiny_pipeline):
    cfg, run_id, results, _ = tiny_pipeline
    wh = Warehouse.from_config(cfg)
    report = wh.read_json(run_id, S.EVALUATION_JSON)
    assert "itemknn" in report["models"] and "itemknn" in report["hybrid_vs"]
    assert 0.0 < report["models"]["itemknn"]["ndcg@10"] <= 1.0
    blend = wh.read_json(run_id, S.BLEND)
    assert {"item_weight", "popularity_weight"} <= set(blend["chosen"])
    assert blend["share_sweep"] and blend["item_based"]
    similar = wh.read_table(spark, run_id, S.SIMILAR_SONGS)
    assert similar.where(F.col(S.SOURCE).contains("coplay")).count() > 0
    candidates = wh.read_table(spark, run_id, S.USER_CANDIDATES)
    assert S.ITEM_SCORE in candidates.columns
    # the item-based share chosen decides whether its lists are in the pool
    has_item = candidates.where(F.col(S.ITEM_SCORE) > 0).limit(1).count() > 0
    assert has_item == (blend["chosen"]["item_weight"] > 0)
    played = wh.read_table(spark, run_id, S.INTERACTIONS).select(S.USER, S.SONG)
    recs = wh.read_table(spark, run_id, S.USER_RECOMMENDATIONS)
    assert recs.join(played, [S.USER, S.SONG]).count() == 0
    assert results["train-itemknn"]["neighbour_rows"] > 0
    sweep = pd.DataFrame(blend["share_sweep"])
    assert ((sweep.item_weight + sweep.popularity_weight) <= 1.0).all()


def test_fit_blend_writes_the_refits_neighbours_once_for_blend_and_evaluation(spark, tiny_pipeline):
    cfg, run_id, _, _ = tiny_pipeline
    wh = Warehouse.from_config(cfg)
    nbrs = wh.read_table(spark, run_id, S.HOLDOUT_CF_NEIGHBOURS)
    refit_songs = wh.read_table(spark, run_id, S.HOLDOUT_ITEM_FACTORS).select(S.SONG)
    per_song = nbrs.groupBy(S.SONG).count()
    assert per_song.agg(F.max("count")).first()[0] == cfg.als.neighbours_k
    # the refit's own songs, not production's (whose factors saw the held-out plays)
    assert per_song.join(refit_songs, S.SONG, "left_anti").count() == 0
    assert nbrs.where(F.col(S.SONG) == F.col(S.NEIGHBOUR)).count() == 0
