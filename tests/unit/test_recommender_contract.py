"""One contract, every recommender (after ``implicit``'s RecommenderBaseTestMixin).

The same known-answer matrix and the same assertions run against each model through the
methods production and the evaluation call: ``fit(interactions)``, ``recommend(users, n)``,
``similar_items(k)``. Two blocks of 6 users x 6 songs; each user plays every song of its own
block but one, so the one right answer for a model that sees the blocks is that song, and its
nearest songs lie in its own block. Content vectors carry the same blocks.
"""

from __future__ import annotations

import dataclasses

import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.config import NeighboursConfig
from recsys.errors import ModelError
from recsys.models.als import AlsRecommender
from recsys.models.base import Recommender
from recsys.models.content import ContentRecommender
from recsys.models.hybrid import HybridRecommender
from recsys.models.itemknn import ItemKNNRecommender
from recsys.models.popularity import PopularityRecommender
from recsys.similarity.neighbours import content_neighbours

BLOCK = 6  # users and songs per block
N_USERS = N_SONGS = 2 * BLOCK
ASKED = [0, 4, 7, 11]  # users asked for: two of each block


def block(i: int) -> int:
    return i // BLOCK


def missing_song(user: int) -> int:
    """The one song of its own block the user never played."""
    return block(user) * BLOCK + user % BLOCK


def played_pairs() -> list[tuple[int, int, int]]:
    return [
        (u, s, 1 + (u + s) % 3)
        for u in range(N_USERS)
        for s in range(block(u) * BLOCK, (block(u) + 1) * BLOCK)
        if s != missing_song(u)
    ]


@pytest.fixture(scope="module")
def matrix(spark):
    interactions = spark.createDataFrame(played_pairs(), S.INTERACTIONS_SCHEMA).persist()
    songs = spark.createDataFrame(
        [(s, f"S{s}", f"T{s}", f"artist{s}", f"title{s}", 1, False, 5, 10) for s in range(N_SONGS)],
        S.SONGS_SCHEMA,
    )
    # a block direction plus a small song-specific one: the block decides the cosine
    vectors = spark.createDataFrame(
        [
            (
                s,
                [1.0 if d == block(s) else 0.0 for d in range(2)]
                + [0.1 if d == s % BLOCK else 0.0 for d in range(BLOCK)],
            )
            for s in range(N_SONGS)
        ],
        S.FACTORS_SCHEMA[S.ITEM_FACTORS],
    )
    yield interactions, songs, vectors
    interactions.unpersist()


@pytest.fixture(scope="module")
def models(matrix, cfg_factory_module):
    interactions, songs, vectors = matrix
    cfg = cfg_factory_module(
        "als.rank=2",
        "als.reg_param=0.01",
        "als.max_iter=10",
        "als.num_user_blocks=1",
        "als.num_item_blocks=1",
        "als.neighbours_k=5",
    )
    # every other song a neighbour: content can then fill lists of any length here
    ncfg = dataclasses.replace(NeighboursConfig(), method="exact", k=N_SONGS - 1)
    nbrs = content_neighbours(vectors, ncfg).persist()
    als = AlsRecommender(cfg.als).fit(interactions)
    fitted = {
        "popularity": PopularityRecommender().fit(interactions),
        "als": als,
        "content": ContentRecommender(nbrs, cfg.hybrid.seeds_per_user).fit(interactions),
        "hybrid": HybridRecommender(cfg.hybrid, songs, als, nbrs, vectors).fit(interactions),
        "itemknn": ItemKNNRecommender(cfg.itemknn).fit(interactions),
    }
    yield fitted
    fitted["itemknn"].release()
    nbrs.unpersist()


@pytest.fixture(scope="module")
def cfg_factory_module(tmp_path_factory):
    from tests.support import make_config

    root = tmp_path_factory.mktemp("contract")
    return lambda *overrides: make_config(root, *overrides)


MODEL_NAMES = ["popularity", "als", "content", "hybrid", "itemknn"]


def lists_of(recs) -> dict[int, list[tuple[int, float, int]]]:
    out: dict[int, list[tuple[int, float, int]]] = {}
    for r in recs.orderBy(S.USER, S.RANK).collect():
        out.setdefault(r[S.USER], []).append((r[S.SONG], r[S.SCORE], r[S.RANK]))
    return out


def asked(spark):
    return spark.createDataFrame([(u,) for u in ASKED], f"{S.USER} int")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_is_a_recommender_and_fit_returns_it(models, name):
    assert isinstance(models[name], Recommender)
    assert models[name].name == name


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_recommend_shape_order_ties_and_exclusion(spark, models, name):
    n = 4
    recs = models[name].recommend(asked(spark), n)
    assert [(f.name, f.dataType) for f in recs.schema.fields] == [
        (f.name, f.dataType) for f in S.TOPN_SCHEMA.fields
    ]
    lists = lists_of(recs)
    assert sorted(lists) == ASKED  # only the users asked for, every one of them
    played = {(u, s) for u, s, _ in played_pairs()}
    for user, rows in lists.items():
        assert len(rows) == n  # 7 unplayed songs each: every model can fill 4
        assert [rank for _, _, rank in rows] == list(range(1, n + 1))
        assert not any((user, song) in played for song, _, _ in rows)
        assert len({song for song, _, _ in rows}) == n
        for (s1, sc1, _), (s2, sc2, _) in zip(rows, rows[1:], strict=False):
            assert sc1 >= sc2  # scores do not increase down the list
            if sc1 == sc2:
                assert s1 < s2  # equal scores: the smaller song id first


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_recommend_is_deterministic_and_covers_every_user_by_default(spark, models, name):
    first = lists_of(models[name].recommend(None, 3))
    assert sorted(first) == list(range(N_USERS))
    assert lists_of(models[name].recommend(None, 3)) == first


@pytest.mark.parametrize("name", ["als", "content", "hybrid", "itemknn"])
def test_known_answer_the_missing_song_of_the_users_block_first(spark, models, name):
    lists = lists_of(models[name].recommend(None, 2))
    assert {u: rows[0][0] for u, rows in lists.items()} == {
        u: missing_song(u) for u in range(N_USERS)
    }


def test_known_answer_popularity_is_the_listener_order(spark, models):
    # every song has 5 listeners: the tie rule alone orders them, and played songs are skipped
    lists = lists_of(models["popularity"].recommend(asked(spark), 3))
    played = {(u, s) for u, s, _ in played_pairs()}
    for user, rows in lists.items():
        expected = [s for s in range(N_SONGS) if (user, s) not in played][:3]
        assert [song for song, _, _ in rows] == expected
        assert {score for _, score, _ in rows} == {5.0}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_similar_items_where_the_model_has_them(spark, models, name):
    k = 3
    nbrs = models[name].similar_items(k)
    if name == "popularity":
        assert nbrs is None
        return
    assert [f.name for f in nbrs.schema.fields] == [f.name for f in S.NEIGHBOURS_SCHEMA.fields]
    rows = nbrs.collect()
    assert not [r for r in rows if r[S.SONG] == r[S.NEIGHBOUR]]
    per_song = nbrs.groupBy(S.SONG).agg(F.count("*").alias("n"), F.max(S.RANK).alias("top"))
    assert {(r["n"], r["top"]) for r in per_song.collect()} == {(k, k)}
    first = {r[S.SONG]: r[S.NEIGHBOUR] for r in rows if r[S.RANK] == 1}
    assert set(first) == set(range(N_SONGS))
    assert all(block(song) == block(nbr) for song, nbr in first.items())


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_list_length_that_is_not_a_positive_integer_is_refused(spark, models, name, bad):
    with pytest.raises(ModelError, match="n: expected a positive integer"):
        models[name].recommend(None, bad)


@pytest.mark.parametrize(
    "unfitted",
    [
        lambda cfg, nbrs: PopularityRecommender(),
        lambda cfg, nbrs: AlsRecommender(cfg.als),
        lambda cfg, nbrs: ContentRecommender(nbrs, 3),
        lambda cfg, nbrs: ItemKNNRecommender(cfg.itemknn),
    ],
)
def test_recommend_before_fit_says_so(spark, cfg_factory_module, matrix, unfitted):
    model = unfitted(cfg_factory_module(), matrix[0])
    with pytest.raises(ModelError, match="not fitted"):
        model.recommend(None, 3)
