"""The whole pipeline on tiny generated data: every table, the invariants, the planted structure."""

import csv
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.steps import STEPS
from recsys.steps.publish import PUBLISHED_TABLES
from recsys.storage.warehouse import Warehouse

pytestmark = pytest.mark.integration


def test_every_step_ran_and_the_run_was_published(spark, tiny_pipeline):
    cfg, run_id, results, _ = tiny_pipeline
    assert list(results) == [s.name for s in STEPS]
    wh = Warehouse.from_config(cfg)
    assert wh.latest_run_id() == run_id
    manifest = wh.read_json(run_id, S.MANIFEST)
    assert manifest["published"] is True
    for table in PUBLISHED_TABLES:
        assert manifest["tables"][table] > 0, table
    assert set(manifest["metrics"]) == {"popularity", "als", "itemknn", "content", "hybrid"}
    md = wh.read_text(run_id, S.EVALUATION_MD)
    assert "hybrid" in md and "ndcg@10" in md
    # every step deleted its scratch folder, and the last one the emptied _ship with it
    assert not (Path(cfg.warehouse.dir) / "runs" / run_id / "_ship").exists()


def test_manifest_records_each_steps_spark_figures_and_the_hybrids_intervals(tiny_pipeline):
    cfg, run_id, _, _ = tiny_pipeline
    manifest = Warehouse.from_config(cfg).read_json(run_id, S.MANIFEST)
    steps = {s["step"]: s for s in manifest["steps"]}
    assert list(steps) == [s.name for s in STEPS if s.name != "publish"]
    for name, record in steps.items():
        figures = record["spark"]
        assert figures["available"] and figures["complete"], name
        assert figures["stages"] > 0, name
    # ingest reads the raw text and writes tables; ALS shuffles its ratings blocks
    assert steps["ingest"]["spark"]["input_bytes"] > 0
    assert steps["ingest"]["spark"]["output_bytes"] > 0
    assert steps["train-als"]["spark"]["shuffle_write_bytes"] > 0
    assert steps["train-als"]["spark"]["shuffle_write_records"] > 0
    # per query, largest shuffle first, named by the table it wrote: what grows faster
    queries = steps["hybrid"]["spark"]["queries"]
    written = {q["what"]: q for q in queries}
    assert {"user_candidates", "user_recommendations", "similar_songs"} <= set(written)
    shuffled = [q["shuffle_write_bytes"] for q in queries]
    assert shuffled == sorted(shuffled, reverse=True) and shuffled[0] > 0
    assert sum(shuffled) <= steps["hybrid"]["spark"]["shuffle_write_bytes"]
    # both users' lists come out of the scoring blocks clustered by user: the second is
    # written from the cached lists with no shuffle at all
    assert written["user_recommendations"]["shuffle_write_bytes"] == 0
    # the hybrid's own metric with its 95% interval (what the drift gate reads changes by)
    interval = manifest["metric_intervals"]["ndcg@10"]
    assert interval["mean"] == pytest.approx(manifest["metrics"]["hybrid"]["ndcg@10"])
    assert 0 < interval["ci95"] < interval["mean"]
    assert manifest["comparison"] is None  # the first run of its warehouse


def test_als_runs_on_a_fast_blas(tiny_pipeline):
    cfg, run_id, results, _ = tiny_pipeline
    params = Warehouse.from_config(cfg).read_json(run_id, S.ALS_PARAMS)
    assert params["blas"]["in_use"] == results["train-als"]["blas"]
    # the blocks solver (the default) computes with numpy's BLAS on the executors: an
    # optimised one (the wheels' OpenBLAS), never numpy's own reference loops
    assert cfg.als.solver == "blocks"
    assert results["train-als"]["blas"].startswith("numpy: ")
    assert any(n in results["train-als"]["blas"].lower() for n in ("openblas", "mkl", "accelerate"))
    # Spark ML's, for als.solver spark: the native one where a libblas loads, else the JDK
    # vector API's (never plain Java loops)
    assert params["blas"]["spark_ml"] in ("VectorBLAS", "JNIBLAS")


def test_every_step_releases_what_it_cached(tiny_pipeline):
    cfg, run_id, _, _ = tiny_pipeline
    manifest = Warehouse.from_config(cfg).read_json(run_id, S.MANIFEST)
    left = {s["step"]: s["spark"]["cached_after"] for s in manifest["steps"]}
    assert left == {name: 0 for name in left}
    # the item matrices the exact top-N broadcast are destroyed once each step is done
    destroyed = {s["step"]: s["spark"]["broadcasts"] for s in manifest["steps"]}
    assert destroyed["train-als"] >= 2 and destroyed["ingest"] == 0


def test_recommendations_keep_their_promises(spark, tiny_pipeline):
    cfg, run_id, _, _ = tiny_pipeline
    wh = Warehouse.from_config(cfg)
    recs = wh.read_table(spark, run_id, S.USER_RECOMMENDATIONS)
    interactions = wh.read_table(spark, run_id, S.INTERACTIONS)
    songs = wh.read_table(spark, run_id, S.SONGS)
    # played songs never appear
    assert recs.join(interactions, [S.USER, S.SONG]).count() == 0
    # ranks are 1..n per user, at most top_n
    per_user = recs.groupBy(S.USER).agg(
        F.count(F.lit(1)).alias("n"), F.max(S.RANK).alias("r"), F.countDistinct(S.SONG).alias("d")
    )
    assert per_user.filter(f"n != r or n != d or n > {cfg.hybrid.top_n}").count() == 0
    assert per_user.count() == wh.read_table(spark, run_id, S.USERS).count()
    # component scores normalised, reasons present
    bad = recs.filter(
        (F.col(S.CF_SCORE) < 0)
        | (F.col(S.CF_SCORE) > 1)
        | (F.col(S.CONTENT_SCORE) < 0)
        | (F.col(S.CONTENT_SCORE) > 1)
        | (F.col(S.ITEM_SCORE) < 0)
        | (F.col(S.ITEM_SCORE) > 1)
        | F.col(S.REASON).isNull()
    )
    assert bad.count() == 0
    # cold songs (nobody played them) reach users through content, and say so on the song page
    cold = songs.filter("n_listeners = 0").select(S.SONG)
    assert cold.count() > 0
    assert recs.join(cold, S.SONG).count() > 0
    similar = wh.read_table(spark, run_id, S.SIMILAR_SONGS)
    cold_similar = similar.filter(F.col(S.IS_COLD))
    assert cold_similar.count() > 0
    # nobody played a cold song: neither ALS nor co-plays can place it
    assert cold_similar.filter(F.col(S.SOURCE).rlike("cf|coplay")).count() == 0


def test_the_users_lists_are_written_clustered_by_user(tiny_pipeline):
    """Each file of the per-user tables holds one range of users, sorted, disjoint from the
    other files' (the lists leave blocks of range-partitioned users and are not re-shuffled)."""
    import pyarrow.parquet as pq

    cfg, run_id, _, _ = tiny_pipeline
    wh = Warehouse.from_config(cfg)
    for table in (S.USER_CANDIDATES, S.USER_RECOMMENDATIONS):
        ranges = []
        for path in sorted(Path(wh.table_uri(run_id, table)).glob("part-*.parquet")):
            users = pq.read_table(path, columns=[S.USER]).column(S.USER).to_pylist()
            if users:
                assert users == sorted(users), path
                ranges.append((users[0], users[-1]))
        ranges.sort()
        assert len(ranges) >= 2, table
        assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False)), (table, ranges)


def read_planted(raw):
    with open(raw / "_planted" / "songs.csv", newline="", encoding="utf-8") as handle:
        song_genre = {r["song_id"]: r["genre"] for r in csv.DictReader(handle)}
    with open(raw / "_planted" / "users.csv", newline="", encoding="utf-8") as handle:
        user_genres = {r["user_id"]: set(r["genres"].split("|")) for r in csv.DictReader(handle)}
    return song_genre, user_genres


def test_planted_genres_show_in_recommendations(spark, tiny_pipeline, tiny_raw):
    cfg, run_id, _, _ = tiny_pipeline
    raw, _ = tiny_raw
    song_genre, user_genres = read_planted(raw)
    wh = Warehouse.from_config(cfg)
    recs = (
        wh.read_table(spark, run_id, S.USER_RECOMMENDATIONS)
        .join(wh.read_table(spark, run_id, S.USERS).select(S.USER, S.USER_ID), S.USER)
        .join(wh.read_table(spark, run_id, S.SONGS).select(S.SONG, S.SONG_ID), S.SONG)
        .select(S.USER_ID, S.SONG_ID)
        .collect()  # tiny: a few thousand rows
    )
    hits = [song_genre[r[S.SONG_ID]] in user_genres[r[S.USER_ID]] for r in recs]
    rate = sum(hits) / len(hits)
    # chance: the share of catalogue songs in a user's preferred genres, averaged over users
    genres = list(song_genre.values())
    chance = sum(
        sum(g in prefs for g in genres) / len(genres) for prefs in user_genres.values()
    ) / len(user_genres)
    assert rate > chance + 0.25, (rate, chance)


def test_content_neighbours_stay_in_genre(spark, tiny_pipeline, tiny_raw):
    cfg, run_id, _, _ = tiny_pipeline
    raw, _ = tiny_raw
    song_genre, _ = read_planted(raw)
    wh = Warehouse.from_config(cfg)
    ids = wh.read_table(spark, run_id, S.SONGS).select(S.SONG, S.SONG_ID)
    pairs = (
        wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS)
        .filter(F.col(S.RANK) <= 10)
        .join(ids, S.SONG)
        .join(
            ids.select(F.col(S.SONG).alias(S.NEIGHBOUR), F.col(S.SONG_ID).alias("n_id")),
            S.NEIGHBOUR,
        )
        .select(S.SONG_ID, "n_id")
        .collect()
    )
    same = sum(song_genre[r[S.SONG_ID]] == song_genre[r["n_id"]] for r in pairs) / len(pairs)
    n_genres = len(set(song_genre.values()))
    assert same > 1.0 / n_genres + 0.3, same
