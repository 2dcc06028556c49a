"""Implicit ALS: confidence functions, a known-answer fit, the validation split, the step."""

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
from recsys.steps import train_als
from recsys.storage.warehouse import Warehouse

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


# ----------------------------------------------------------------------------- tuning pieces


def test_split_validation_is_seeded_and_keeps_a_train_play(spark):
    interactions = checkerboard(spark, users_per_group=40)
    train, heldout = als.split_validation(interactions, 0.5, 0.3, seed=3)
    train2, heldout2 = als.split_validation(interactions, 0.5, 0.3, seed=3)
    held = {tuple(r) for r in heldout.collect()}
    assert held == {tuple(r) for r in heldout2.collect()}
    n_val = len({u for u, _ in held})
    assert 20 <= n_val <= 60  # about half of 80 users
    all_pairs = {(r[S.USER], r[S.SONG]) for r in interactions.collect()}
    train_pairs = {(r[S.USER], r[S.SONG]) for r in train.collect()}
    assert train_pairs | held == all_pairs and not train_pairs & held
    for user in {u for u, _ in held}:
        assert sum(1 for u, _ in held if u == user) == 1  # floor(6 * 0.3) = 1
        assert any(u == user for u, _ in train_pairs)
    _, other = als.split_validation(interactions, 0.5, 0.3, seed=4)
    assert {tuple(r) for r in other.collect()} != held
    for df in (train, heldout, train2, heldout2, other):
        df.unpersist()


def test_recall_at_k_against_hand_count(spark):
    top = spark.createDataFrame(
        [(1, 10, 1), (1, 11, 2), (1, 12, 3), (2, 20, 1), (2, 21, 2)],
        f"{S.USER} int, {S.SONG} int, {S.RANK} int",
    )
    held = spark.createDataFrame(
        [(1, 11), (1, 12), (1, 99), (2, 30), (3, 10)], f"{S.USER} int, {S.SONG} int"
    )
    # k=2: user 1 hits 11 of {11, 12, 99} -> 1/3; user 2 -> 0; user 3 (no list) -> 0.
    assert als.recall_at_k(top, held, 2) == pytest.approx((1 / 3) / 3)
    assert als.recall_at_k(top, held, 3) == pytest.approx((2 / 3) / 3)


def test_grid_order_and_types(cfg_factory):
    cfg = cfg_factory(
        "als.tuning.ranks=[2, 4]", "als.tuning.reg_params=[0.1]", "als.tuning.alphas=[1, 5]"
    )
    assert als.grid(cfg.als) == [
        {"rank": 2, "reg_param": 0.1, "alpha": 1.0},
        {"rank": 2, "reg_param": 0.1, "alpha": 5.0},
        {"rank": 4, "reg_param": 0.1, "alpha": 1.0},
        {"rank": 4, "reg_param": 0.1, "alpha": 5.0},
    ]


# ----------------------------------------------------------------------------- the step


def test_train_als_step_writes_every_output(spark, cfg_factory):
    cfg = cfg_factory(
        "als.rank=4",
        "als.max_iter=5",
        "als.top_n=3",
        "als.neighbours_k=2",
        "als.tuning.enabled=true",
        "als.tuning.ranks=[1, 4]",
        "als.tuning.reg_params=[0.01]",
        "als.tuning.alphas=[10]",
        "als.tuning.validation_user_fraction=0.5",
        "als.tuning.k=3",
        *ONE_BLOCK,
    )
    warehouse = Warehouse.from_config(cfg)
    interactions = checkerboard(spark)
    warehouse.write_table(interactions, "r1", S.INTERACTIONS)
    summary = train_als.run(spark, cfg, "r1")

    tuning = warehouse.read_json("r1", S.ALS_TUNING)
    assert [s["rank"] for s in tuning["settings"]] == [1, 4]
    assert all(s["seconds"] > 0 and 0 <= s["recall@3"] <= 1 for s in tuning["settings"])
    best = max(tuning["settings"], key=lambda s: s["recall@3"])
    assert tuning["best"] == best
    params = warehouse.read_json("r1", S.ALS_PARAMS)
    assert params["params"]["rank"] == best["rank"]

    for table in (S.USER_FACTORS, S.ITEM_FACTORS):
        df = warehouse.read_table(spark, "r1", table)
        assert [f.name for f in df.schema] == [f.name for f in S.FACTORS_SCHEMA[table]]
        assert {len(r[S.FEATURES]) for r in df.collect()} == {best["rank"]}
    recs = warehouse.read_table(spark, "r1", S.CF_USER_TOPN)
    assert [f.name for f in recs.schema] == S.TOPN_SCHEMA.names
    assert summary["users"] == 24 and summary["topn_rows"] == 24 * 3
    assert recs.join(interactions, [S.USER, S.SONG]).count() == 0
    neighbours = warehouse.read_table(spark, "r1", S.CF_NEIGHBOURS)
    assert neighbours.count() == summary["neighbour_rows"] == 20 * 2

    from pyspark.ml.recommendation import ALSModel

    model = ALSModel.load(warehouse.spark_path(warehouse.model_uri("r1", S.ALS_MODEL)))
    assert model.rank == best["rank"]


# ----------------------------------------------------------------------------- end to end


def genre_rate(lists: dict, song_genre: dict, user_genres: dict) -> float:
    """Share of recommended (user, song) pairs whose song is of a genre the user prefers."""
    pairs = [(u, s) for u, songs in lists.items() for s in songs]
    return sum(song_genre[s] in user_genres[u] for u, s in pairs) / len(pairs)


@pytest.mark.integration
def test_train_als_on_sample_data_recommends_the_planted_genres(spark, cfg_factory, tiny_raw):
    import pandas as pd

    from recsys.steps import run_steps

    raw, _ = tiny_raw
    cfg = cfg_factory(f"input.dir={raw}", "ingest.max_bad_fraction=0.05", "als.top_n=10")
    run_steps(spark, cfg, "tiny-als", ["ingest", "train-als"])
    warehouse = Warehouse.from_config(cfg)

    def table(name, *cols):
        return warehouse.read_table(spark, "tiny-als", name).select(*cols).toPandas()

    users = table(S.USERS, S.USER, S.USER_ID)
    songs = table(S.SONGS, S.SONG, S.SONG_ID, "n_listeners")
    played = table(S.INTERACTIONS, S.USER, S.SONG).groupby(S.USER)[S.SONG].apply(set).to_dict()
    recs = table(S.CF_USER_TOPN, S.USER, S.SONG, S.RANK).sort_values([S.USER, S.RANK])
    warm = set(table(S.ITEM_FACTORS, S.SONG)[S.SONG])

    planted_songs = pd.read_csv(raw / "_planted" / "songs.csv")
    planted_users = pd.read_csv(raw / "_planted" / "users.csv")
    song_genre = dict(
        songs.merge(planted_songs[[S.SONG_ID, "genre"]], on=S.SONG_ID)[[S.SONG, "genre"]].values
    )
    user_genres = {
        u: set(g.split("|"))
        for u, g in users.merge(planted_users, on=S.USER_ID)[[S.USER, "genres"]].values
    }

    als_lists = recs.groupby(S.USER)[S.SONG].apply(list).to_dict()
    assert len(als_lists) == len(users)
    assert all(len(v) == 10 and not set(v) & played[u] for u, v in als_lists.items())

    # Baselines over the same candidates (songs with factors, unplayed), 10 per user.
    by_popularity = (
        songs[songs[S.SONG].isin(warm)]
        .sort_values(["n_listeners", S.SONG], ascending=[False, True])[S.SONG]
        .tolist()
    )
    popular = {u: [s for s in by_popularity if s not in played[u]][:10] for u in als_lists}
    rng = np.random.default_rng(0)
    pool = np.array(sorted(warm))
    random_lists = {
        u: [int(s) for s in rng.permutation(pool) if s not in played[u]][:10] for u in als_lists
    }

    als_rate = genre_rate(als_lists, song_genre, user_genres)
    popular_rate = genre_rate(popular, song_genre, user_genres)
    random_rate = genre_rate(random_lists, song_genre, user_genres)
    print(
        f"in preferred genres: als {als_rate:.3f}, popularity {popular_rate:.3f}, "
        f"random {random_rate:.3f}"
    )
    assert als_rate >= max(popular_rate, random_rate) + 0.2
