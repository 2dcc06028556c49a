"""The evaluation library on ingested tiny sample data: the metrics see the planted structure."""

from __future__ import annotations

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import WarehouseError
from recsys.evaluation import checks, compare, protocol, split
from recsys.evaluation import metrics as E
from recsys.evaluation.report import report_markdown
from recsys.models.popularity import popularity_recommender
from recsys.storage.warehouse import Warehouse

pytestmark = pytest.mark.integration
KS = [10, 50]


@pytest.fixture(scope="module")
def ingested(spark, tiny_pipeline, tiny_raw):
    """The tiny pipeline's ingested tables (tiny lyrics: 5 planted bad lines of 318)."""
    cfg, run_id, _, _ = tiny_pipeline
    raw, _ = tiny_raw
    wh = Warehouse.from_config(cfg)
    return (
        raw,
        wh.read_table(spark, run_id, S.INTERACTIONS),
        wh.read_table(spark, run_id, S.USERS),
        wh.read_table(spark, run_id, S.SONGS),
    )


def planted_genre_recommender(spark, raw, train, users, songs, test_users, n):
    """Popularity within the user's planted genres: what a good model should approach."""
    planted = raw / "_planted"
    song_genre = (
        spark.read.csv(str(planted / "songs.csv"), header=True)
        .select(S.SONG_ID, "genre")
        .join(songs.select(S.SONG_ID, S.SONG), S.SONG_ID)
    )
    user_genre = (
        spark.read.csv(str(planted / "users.csv"), header=True)
        .select(S.USER_ID, F.explode(F.split("genres", r"\|")).alias("genre"))
        .join(users.select(S.USER_ID, S.USER), S.USER_ID)
        .join(test_users, S.USER, "left_semi")
    )
    listeners = train.groupBy(S.SONG).agg(F.count("*").alias("listeners"))
    candidates = (
        user_genre.join(song_genre, "genre")
        .join(listeners, S.SONG)
        .join(train, [S.USER, S.SONG], "left_anti")
        .select(S.USER, S.SONG, "listeners")
        .distinct()
    )
    order = Window.partitionBy(S.USER).orderBy(F.desc("listeners"), S.SONG)
    return candidates.withColumn(S.RANK, F.row_number().over(order)).filter(F.col(S.RANK) <= n)


def test_planted_structure_beats_popularity_beats_random(spark, ingested):
    raw, interactions, users, songs = ingested
    train, test = split.holdout_split(interactions, 0.3, 0.3, 5, 42)
    test_users = test.select(S.USER).distinct()
    assert test_users.count() > 20
    n = max(KS)
    popularity = popularity_recommender(train, n, test_users)
    planted = planted_genre_recommender(spark, raw, train, users, songs, test_users, n)
    hashed = F.xxhash64(S.USER, S.SONG, F.lit(3))
    random_order = (
        test_users.crossJoin(songs.select(S.SONG))
        .join(train, [S.USER, S.SONG], "left_anti")
        .withColumn(S.RANK, F.row_number().over(Window.partitionBy(S.USER).orderBy(hashed)))
        .filter(F.col(S.RANK) <= n)
    )
    models = {"random": random_order, S.MODEL_POPULARITY: popularity, "planted": planted}
    table = E.evaluate_models(models, test, KS, songs.count(), map_tau=500)
    rows = [r.asDict() for r in table.collect()]
    got = {(r["model"], checks.metric_key(r["metric"], r["k"])): r["value"] for r in rows}
    for key in ("ndcg@10", "recall@50", "map@500"):
        assert got[("planted", key)] > got[(S.MODEL_POPULARITY, key)] > got[("random", key)]
    # popularity shows few songs, random shows many
    assert got[("random", "coverage@10")] > got[(S.MODEL_POPULARITY, "coverage@10")]
    report = report_markdown(rows)
    print(report)  # visible with -s: the numbers on tiny data
    assert all(f"| {model} |" in report for model in models)
    # our metrics and Spark's agree on a real-looking model too
    ours = {k: v for (m, k), v in got.items() if m == S.MODEL_POPULARITY}
    theirs = compare.ranking_evaluator_metrics(popularity, test, KS)
    assert compare.compare_metrics(ours, theirs) == []
    train.unpersist()
    test.unpersist()


def test_the_evaluate_step_on_a_sample_says_so(spark, tiny_pipeline_copy):
    from recsys.steps import evaluate

    cfg, run_id = tiny_pipeline_copy
    full = Warehouse.from_config(cfg).read_json(run_id, S.EVALUATION_JSON)
    assert full["evaluated"]["sampled"] is False
    n = full["evaluated"]["users"]
    sampled_cfg = cfg.replace(f"evaluation.max_users={n // 2}")
    evaluate.run(spark, sampled_cfg, run_id)
    doc = Warehouse.from_config(cfg).read_json(run_id, S.EVALUATION_JSON)
    assert doc["evaluated"] == {
        "users": n // 2,
        "of_users_holding_out": n,
        "sampled": True,
        "max_users": n // 2,
        "alpha_sweep": list(cfg.evaluation.alpha_sweep),
    }
    assert doc["held_out_users"] == n // 2
    assert doc["hybrid_vs"]["als"]["ndcg@10"]["n_users"] == n // 2
    md = Warehouse.from_config(cfg).read_text(run_id, S.EVALUATION_MD)
    assert f"{n // 2} users (a seeded sample of the {n} who hid plays)" in md


def test_evaluate_refuses_a_split_made_with_other_settings(spark, tiny_pipeline_copy):
    """blend.json records the split's settings; the refits hid that split's plays, so under
    another evaluation seed evaluate would score plays they trained on: it stops and says to
    run fit-blend again."""
    from recsys.steps import evaluate

    cfg, run_id = tiny_pipeline_copy
    blend = Warehouse.from_config(cfg).read_json(run_id, S.BLEND)
    assert blend["split"] == protocol.split_settings(cfg)
    other = cfg.replace(f"evaluation.seed={cfg.evaluation.seed + 1}")
    with pytest.raises(WarehouseError, match="run fit-blend again with these settings"):
        evaluate.run(spark, other, run_id)
