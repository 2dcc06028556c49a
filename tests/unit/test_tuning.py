"""ALS tuning: the grid, and the split it scores on is the evaluation's own splitter."""

from __future__ import annotations

import pytest

from recsys import schemas as S
from recsys.evaluation import split, tuning
from recsys.evaluation.metrics import ranking_metrics
from tests.unit.test_als import ONE_BLOCK, checkerboard


def test_grid_order_and_types(cfg_factory):
    cfg = cfg_factory(
        "als.tuning.ranks=[2, 4]", "als.tuning.reg_params=[0.1]", "als.tuning.alphas=[1, 5]"
    )
    assert tuning.grid(cfg.als) == [
        {"rank": 2, "reg_param": 0.1, "alpha": 1.0},
        {"rank": 2, "reg_param": 0.1, "alpha": 5.0},
        {"rank": 4, "reg_param": 0.1, "alpha": 1.0},
        {"rank": 4, "reg_param": 0.1, "alpha": 5.0},
    ]


def test_recall_is_the_evaluations_against_a_hand_count(spark):
    top = spark.createDataFrame(
        [(1, 10, 1), (1, 11, 2), (1, 12, 3), (2, 20, 1), (2, 21, 2)],
        f"{S.USER} int, {S.SONG} int, {S.RANK} int",
    )
    held = spark.createDataFrame(
        [(1, 11), (1, 12), (1, 99), (2, 30), (3, 10)], f"{S.USER} int, {S.SONG} int"
    )
    # k=2: user 1 hits 11 of {11, 12, 99} -> 1/3; user 2 -> 0; user 3 (no list) -> 0.
    assert ranking_metrics(top, held, [2])["recall@2"] == pytest.approx((1 / 3) / 3)
    assert ranking_metrics(top, held, [3])["recall@3"] == pytest.approx((2 / 3) / 3)


def test_tuning_scores_every_point_on_the_evaluation_split(spark, cfg_factory):
    cfg = cfg_factory(
        "als.tuning.ranks=[2]",
        "als.tuning.reg_params=[0.01]",
        "als.tuning.alphas=[1, 10]",
        "als.tuning.validation_user_fraction=0.5",
        "als.tuning.holdout_play_fraction=0.3",
        "als.tuning.k=3",
        "als.max_iter=5",
        *ONE_BLOCK,
    )
    interactions = checkerboard(spark, users_per_group=20)
    table = tuning.tune_als(interactions, cfg.als, log=lambda _line: None)
    train, held = split.holdout_split(interactions, 0.5, 0.3, min_user_songs=2, seed=cfg.als.seed)
    try:
        # the same rows the evaluation's splitter hides with these settings
        assert table["heldout_plays"] == held.count() > 0
        assert table["train_plays"] == train.count() == interactions.count() - held.count()
    finally:
        train.unpersist()
        held.unpersist()
    assert [(p["alpha"], p["rank"]) for p in table["settings"]] == [(1.0, 2), (10.0, 2)]
    scores = [p["recall@3"] for p in table["settings"]]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert table["best"]["recall@3"] == max(scores)
    # the checkerboard's held-out songs lie in the user's own block: far above chance (3/20)
    assert max(scores) > 0.3
