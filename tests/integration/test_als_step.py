"""The train-als step: every output on a known-answer matrix, the planted genres on tiny data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.ml.recommendation import ALSModel

from recsys import schemas as S
from recsys.steps import train_als
from recsys.storage.warehouse import Warehouse
from tests.unit.test_als import ONE_BLOCK, checkerboard

TOP = 10  # the genre comparison looks at each user's first ten recommendations


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

    # als.solver blocks (the default) writes no Spark ALSModel; the factor tables are the model
    assert params["params"]["solver"] == "blocks"
    assert not Path(warehouse.model_uri("r1", S.ALS_MODEL)).exists()


def test_train_als_step_with_spark_ml_also_saves_its_model(spark, cfg_factory):
    cfg = cfg_factory("als.rank=4", "als.max_iter=5", "als.top_n=3", "als.solver=spark", *ONE_BLOCK)
    warehouse = Warehouse.from_config(cfg)
    interactions = checkerboard(spark)
    warehouse.write_table(interactions, "r1", S.INTERACTIONS)
    summary = train_als.run(spark, cfg, "r1")
    assert summary["users"] == 24 and summary["topn_rows"] == 24 * 3
    model = ALSModel.load(warehouse.spark_path(warehouse.model_uri("r1", S.ALS_MODEL)))
    assert model.rank == 4
    saved = {r.id: list(r.features) for r in model.userFactors.collect()}
    written = warehouse.read_table(spark, "r1", S.USER_FACTORS).collect()
    assert {r[S.USER]: list(r[S.FEATURES]) for r in written} == saved


def genre_rate(lists: dict, song_genre: dict, user_genres: dict) -> float:
    """Share of recommended (user, song) pairs whose song is of a genre the user prefers."""
    pairs = [(u, s) for u, songs in lists.items() for s in songs]
    return sum(song_genre[s] in user_genres[u] for u, s in pairs) / len(pairs)


def test_train_als_on_sample_data_recommends_the_planted_genres(spark, tiny_pipeline, tiny_raw):
    cfg, run_id, _, _ = tiny_pipeline
    raw, _ = tiny_raw
    warehouse = Warehouse.from_config(cfg)

    def table(name, *cols):
        return warehouse.read_table(spark, run_id, name).select(*cols).toPandas()

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

    # every user gets a full list of unplayed songs with factors, ranked 1..top_n
    full_lists = recs.groupby(S.USER)[S.SONG].apply(list).to_dict()
    assert len(full_lists) == len(users)
    n = cfg.als.top_n
    assert all(len(v) == n and not set(v) & played[u] for u, v in full_lists.items())
    assert all(set(v) <= warm for v in full_lists.values())
    ranks = recs.groupby(S.USER)[S.RANK].apply(list)
    assert all(r == list(range(1, n + 1)) for r in ranks)
    als_lists = recs[recs[S.RANK] <= TOP].groupby(S.USER)[S.SONG].apply(list).to_dict()

    # Baselines over the same candidates (songs with factors, unplayed), TOP per user.
    by_popularity = (
        songs[songs[S.SONG].isin(warm)]
        .sort_values(["n_listeners", S.SONG], ascending=[False, True])[S.SONG]
        .tolist()
    )
    popular = {u: [s for s in by_popularity if s not in played[u]][:TOP] for u in als_lists}
    rng = np.random.default_rng(0)
    pool = np.array(sorted(warm))
    random_lists = {
        u: [int(s) for s in rng.permutation(pool) if s not in played[u]][:TOP] for u in als_lists
    }

    als_rate = genre_rate(als_lists, song_genre, user_genres)
    popular_rate = genre_rate(popular, song_genre, user_genres)
    random_rate = genre_rate(random_lists, song_genre, user_genres)
    print(
        f"in preferred genres: als {als_rate:.3f}, popularity {popular_rate:.3f}, "
        f"random {random_rate:.3f}"
    )
    assert als_rate >= max(popular_rate, random_rate) + 0.2
