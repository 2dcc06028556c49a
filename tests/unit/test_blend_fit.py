"""The fitted blend chooses what the validation plays reward (known answers on the block matrix).

The hidden play of each user is the one song of its own block it never played. Hand-made factors
and content vectors decide which part finds it: the fit must lean on that part, and when
content is absent it must return the collaborative list (alpha 1).
"""

from __future__ import annotations

import dataclasses

import pytest

from recsys import schemas as S
from recsys.config import HybridConfig, NeighboursConfig
from recsys.errors import EvaluationError
from recsys.evaluation import blend_fit
from recsys.models.als import AlsRecommender
from recsys.models.hybrid import HybridRecommender
from recsys.models.itemknn import ItemKNNRecommender
from recsys.similarity.neighbours import content_neighbours
from tests.unit.test_recommender_contract import (
    N_SONGS,
    N_USERS,
    block,
    missing_song,
    played_pairs,
)


@pytest.fixture(scope="module")
def tables(spark):
    interactions = spark.createDataFrame(played_pairs(), S.INTERACTIONS_SCHEMA).persist()
    hidden = spark.createDataFrame(
        [(u, missing_song(u)) for u in range(N_USERS)], f"{S.USER} int, {S.SONG} int"
    )
    users = hidden.select(S.USER)
    songs = spark.createDataFrame(
        [(s, f"S{s}", f"T{s}", f"artist{s}", f"title{s}", 1, False, 5, 10) for s in range(N_SONGS)],
        S.SONGS_SCHEMA,
    )
    vectors = spark.createDataFrame(
        [(s, [1.0 if d == block(s) else 0.0 for d in range(2)]) for s in range(N_SONGS)],
        S.FACTORS_SCHEMA[S.ITEM_FACTORS],
    )
    ncfg = dataclasses.replace(NeighboursConfig(), method="exact", k=N_SONGS - 1)
    nbrs = content_neighbours(vectors, ncfg).persist()
    yield interactions, hidden, users, songs, vectors, nbrs
    interactions.unpersist()
    nbrs.unpersist()


def factors(spark, interactions, cfg, item_block):
    """ALS-shaped factors: users along their block, songs along ``item_block(song)``."""
    user_f = spark.createDataFrame(
        [(u, [1.0 if d == block(u) else 0.0 for d in range(2)]) for u in range(N_USERS)],
        S.FACTORS_SCHEMA[S.USER_FACTORS],
    )
    item_f = spark.createDataFrame(
        [(s, [1.0 if d == item_block(s) else 0.0 for d in range(2)]) for s in range(N_SONGS)],
        S.FACTORS_SCHEMA[S.ITEM_FACTORS],
    )
    return AlsRecommender.from_factors(cfg.als, interactions, user_f, item_f)


def fitted(cfg_factory, spark, tables, item_block, *, content=True, items=False):
    interactions, hidden, users, songs, vectors, nbrs = tables
    cfg = cfg_factory()
    if not content:
        nbrs = nbrs.limit(0)
        vectors = vectors.limit(0)
    als = factors(spark, interactions, cfg, item_block)
    knn = ItemKNNRecommender(cfg.itemknn).fit(interactions) if items else None
    try:
        model = HybridRecommender(cfg.hybrid, songs, als, nbrs, vectors, itemknn=knn)
        return blend_fit.fit_blend(model.fit(interactions), users, hidden, 10, "ndcg@10")
    finally:
        if knn is not None:
            knn.release()


def test_when_only_content_finds_the_hidden_song_the_blend_leans_on_content(
    spark, cfg_factory, tables
):
    # collaborative factors point every user at the other block: wrong by construction
    doc = fitted(cfg_factory, spark, tables, lambda s: 1 - block(s))
    assert doc["mode"] == "fitted" and doc["metric"] == "ndcg@10"
    assert doc["validation_users"] == N_USERS
    assert doc["chosen"]["alpha"] <= 0.5
    assert doc["single_alpha_value"] == pytest.approx(1.0)  # the hidden song first for all
    by_alpha = {r["alpha"]: r["value"] for r in doc["sweep"] if r["popularity_exponent"] == 0.0}
    assert by_alpha[1.0] < 0.5  # the collaborative list alone misses it
    assert len(doc["sweep"]) == len(HybridConfig().fit.alphas) * len(
        HybridConfig().fit.popularity_exponents
    )


def test_without_content_the_chosen_blend_is_the_collaborative_list(spark, cfg_factory, tables):
    doc = fitted(cfg_factory, spark, tables, block, content=False)
    assert doc["chosen"] == {
        "alpha": 1.0,
        "popularity_exponent": 0.0,
        "alpha_curve": [],
        "item_weight": 0.0,
        "popularity_weight": 0.0,
    }
    assert doc["value"] == pytest.approx(1.0)
    # without an item-based model only its share 0 is tried; popularity (every song has the
    # same listeners here) adds nothing, so the tie goes to ALS alone
    assert {r["item_weight"] for r in doc["share_sweep"]} == {0.0}
    assert len(doc["share_sweep"]) == len(HybridConfig().fit.popularity_weights)
    assert not doc["item_based"]


def test_when_only_co_plays_find_the_hidden_song_the_shares_lean_on_the_item_based_model(
    spark, cfg_factory, tables
):
    # ALS points every user at the other block; co-plays within the block find the song
    doc = fitted(cfg_factory, spark, tables, lambda s: 1 - block(s), content=False, items=True)
    assert doc["item_based"]
    shares = {(r["item_weight"], r["popularity_weight"]): r["value"] for r in doc["share_sweep"]}
    assert shares[(0.0, 0.0)] < 0.5  # ALS alone misses it
    best_item = max(w for w, p in shares if p == 0.0)
    assert shares[(best_item, 0.0)] == pytest.approx(1.0)
    chosen = doc["chosen"]
    assert chosen["item_weight"] > 0 and chosen["alpha"] == 1.0  # content absent: alpha 1
    assert doc["value"] == pytest.approx(1.0)
    # every pair of the grid whose shares sum to at most 1, and no other
    fit = HybridConfig().fit
    expected = {
        (float(i), float(p))
        for i in fit.item_weights
        for p in fit.popularity_weights
        if i + p <= 1.0
    }
    assert set(shares) == expected


def test_apply_blend_sets_the_chosen_values_and_fixed_keeps_the_config():
    cfg = HybridConfig()
    doc = {
        "mode": "fitted",
        "chosen": {
            "alpha": 0.25,
            "popularity_exponent": 1.0,
            "alpha_curve": [[2.0, 0.5], [9.0, 0.9]],
        },
    }
    got = blend_fit.apply_blend(cfg, doc)
    assert (got.alpha, got.popularity_exponent, got.alpha_curve) == (
        0.25,
        1.0,
        [[2.0, 0.5], [9.0, 0.9]],
    )
    # a blend fitted before the item-based model chose no shares: both 0
    assert (got.item_weight, got.popularity_weight) == (0.0, 0.0)
    doc["chosen"].update(item_weight=0.5, popularity_weight=0.15)
    got = blend_fit.apply_blend(cfg, doc)
    assert (got.item_weight, got.popularity_weight) == (0.5, 0.15)
    assert blend_fit.apply_blend(cfg, blend_fit.fixed_blend(cfg)) == cfg


@pytest.mark.parametrize("bad", ["coverage@10", "ndcg", "ndcg@x", "ndcg@0"])
def test_the_gate_metric_must_be_a_ranking_metric_at_a_cut_off(bad):
    with pytest.raises(EvaluationError, match="publish.gate_metric"):
        blend_fit.parse_metric(bad)
