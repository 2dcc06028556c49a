"""Night over night: the comparison against a hand-computed pair of runs, the drift gate
refusing and passing, and publish writing both (recsys.evaluation.drift)."""

import math

import pytest
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import JobFailed
from recsys.evaluation import drift
from recsys.steps import publish
from recsys.storage.warehouse import Warehouse
from tests.support import make_config

DEFAULTS = {T.StringType: "", T.IntegerType: 0, T.LongType: 0, T.FloatType: 0.0}
DEFAULTS |= {T.DoubleType: 0.0, T.BooleanType: False}


def frame(spark, schema, rows):
    """Rows given as dicts of some columns; the others 0 / "" / False."""
    full = [tuple(r.get(f.name, DEFAULTS[type(f.dataType)]) for f in schema.fields) for r in rows]
    return spark.createDataFrame(full, schema)


# Last night: users u1, u2, u3; songs S1..S5 (indices 0..4). Tonight the runs number users
# and songs differently (u2 is 0, S5 is 0) and add user u4 and song S6.
BEFORE = {"u1": ["S1", "S2", "S3"], "u2": ["S2", "S3"], "u3": ["S4"]}
AFTER = {"u1": ["S2", "S1", "S5"], "u2": ["S2", "S6"], "u4": ["S3"]}
BEFORE_USERS, BEFORE_SONGS = ["u1", "u2", "u3"], ["S1", "S2", "S3", "S4", "S5"]
AFTER_USERS, AFTER_SONGS = ["u2", "u1", "u4"], ["S5", "S4", "S3", "S2", "S1", "S6"]
K = 2
# by hand, top-2: u1 {S1,S2} vs {S2,S1}: Jaccard 1, first pick S1 -> S2 changed;
# u2 {S2,S3} vs {S2,S6}: 1/3, first pick S2 kept; u3 gone, u4 new.
# all ranks: before {S1..S4} (4 of 5 songs), after {S1,S2,S3,S5,S6} (5 of 6): S5, S6 entered,
# S4 left.
HAND = {
    "users_compared": 2,
    "users_new": 1,
    "users_gone": 1,
    "top_k_jaccard_mean": (1 + 1 / 3) / 2,
    "first_pick_changed_share": 0.5,
    "songs_entered": 2,
    "songs_left": 1,
    "listed_songs": {"previous": 4, "current": 5},
}


def write_run(spark, wh, run_id, lists, user_ids, song_ids):
    uidx = {u: i for i, u in enumerate(user_ids)}
    sidx = {s: i for i, s in enumerate(song_ids)}
    users = [{S.USER: i, S.USER_ID: u, "n_songs": 1, "n_plays": 1} for u, i in uidx.items()]
    songs = [{S.SONG: i, S.SONG_ID: s, S.TRACK_ID: "TR" + s} for s, i in sidx.items()]
    recs = [
        {S.USER: uidx[u], S.RANK: r, S.SONG: sidx[s], S.SCORE: 1.0 / r, S.REASON: "x"}
        for u, songs_ in lists.items()
        for r, s in enumerate(songs_, 1)
    ]
    wh.write_table(frame(spark, S.USERS_SCHEMA, users), run_id, S.USERS)
    wh.write_table(frame(spark, S.SONGS_SCHEMA, songs), run_id, S.SONGS)
    wh.write_table(frame(spark, S.RECOMMENDATIONS_SCHEMA, recs), run_id, S.USER_RECOMMENDATIONS)


@pytest.fixture()
def pair(spark, tmp_path):
    cfg = make_config(tmp_path)
    wh = Warehouse.from_config(cfg)
    write_run(spark, wh, "2026-11-23", BEFORE, BEFORE_USERS, BEFORE_SONGS)
    write_run(spark, wh, "2026-11-24", AFTER, AFTER_USERS, AFTER_SONGS)
    return cfg, wh


def lists(spark, wh):
    return tuple(
        drift.labelled_lists(
            *(wh.read_table(spark, r, t) for t in (S.USER_RECOMMENDATIONS, S.USERS, S.SONGS))
        )
        for r in ("2026-11-23", "2026-11-24")
    )


def test_comparison_matches_the_hand_computed_pair(spark, pair):
    _, wh = pair
    metrics = (
        {"hybrid": {"ndcg@10": 0.30, "recall@50": 0.5}, "als": {"ndcg@10": 0.2}},
        {"hybrid": {"ndcg@10": 0.25, "recall@50": 0.6}, "content": {"ndcg@10": 0.1}},
    )
    got = drift.compare_runs("2026-11-23", lists(spark, wh), K, (5, 6), metrics)
    for key, want in HAND.items():
        assert got[key] == pytest.approx(want), key
    assert got["top_k_churn"] == pytest.approx(1 / 3)
    assert got["coverage"] == {"previous": pytest.approx(0.8), "current": pytest.approx(5 / 6)}
    assert got["previous_run"] == "2026-11-23" and got["k"] == K
    # only what both nights measured, with its delta
    assert [(m["model"], m["metric"]) for m in got["metrics"]] == [
        ("hybrid", "ndcg@10"),
        ("hybrid", "recall@50"),
    ]
    assert got["metrics"][0]["delta"] == pytest.approx(-0.05)


def test_top_k_reads_only_the_first_k(spark, pair):
    _, wh = pair
    got = drift.compare_runs("2026-11-23", lists(spark, wh), 3, (5, 6), ({}, {}))
    # u1's top 3: {S1,S2,S3} vs {S2,S1,S5}: 2/4; u2 unchanged at 1/3
    assert got["top_k_jaccard_mean"] == pytest.approx((0.5 + 1 / 3) / 2)


def comparison(prev=0.30, cur=0.25, churn=0.1):
    return {
        "previous_run": "r1",
        "k": 10,
        "top_k_churn": churn,
        "metrics": [
            {
                "model": "hybrid",
                "metric": "ndcg@10",
                "previous": prev,
                "current": cur,
                "delta": cur - prev,
            }
        ],
    }


def evaluation(ci):
    return {"intervals": {"hybrid": {"ndcg@10": {"mean": 0.0, "ci95": ci, "n_users": 100}}}}


def test_drift_gate_reads_the_drop_against_the_interval():
    evals = (evaluation(0.01), evaluation(0.02))
    ci = math.sqrt(0.01**2 + 0.02**2)
    gate = drift.drift_gate(comparison(), "ndcg@10", evals, 0.0, 0.5, True)
    assert gate["name"] == "drift" and gate["passed"] is False
    assert f"fell {0.05 - ci:.4f} beyond its interval" in gate["detail"]
    assert "publish.drift.max_metric_drop 0" in gate["detail"]
    # a margin above the drop beyond the interval lets it pass; so does a drop inside it
    assert drift.drift_gate(comparison(), "ndcg@10", evals, 0.03, 0.5, True)["passed"]
    inside = comparison(prev=0.30, cur=0.28)
    gate = drift.drift_gate(inside, "ndcg@10", evals, 0.0, 0.5, True)
    assert gate["passed"] and "change -0.0200" in gate["detail"]
    # a rise is never a drift
    assert drift.drift_gate(comparison(cur=0.4), "ndcg@10", evals, 0.0, 0.5, True)["passed"]


def test_drift_gate_refuses_churn_only_when_inputs_and_code_are_unchanged():
    evals = (evaluation(0.01), evaluation(0.01))
    calm = comparison(prev=0.3, cur=0.3, churn=0.7)
    gate = drift.drift_gate(calm, "ndcg@10", evals, 0.0, 0.5, True)
    assert not gate["passed"]
    assert "top-10 churn 0.700 above publish.drift.max_churn 0.5 (by 0.200)" in gate["detail"]
    changed = drift.drift_gate(calm, "ndcg@10", evals, 0.0, 0.5, False)
    assert changed["passed"] and "inputs or code changed" in changed["detail"]
    assert drift.drift_gate(calm, "ndcg@10", evals, 0.0, 0.8, True)["passed"]


def test_drift_gate_without_a_baseline_passes_and_says_why():
    gate = drift.drift_gate(None, "ndcg@10", (None, None), 0.0, 0.5, True)
    assert gate["passed"] and "no published run" in gate["detail"]
    skipped = {"previous_run": "r1", "skipped": "run r1 has no complete users (pruned)"}
    gate = drift.drift_gate(skipped, "ndcg@10", (None, None), 0.0, 0.5, True)
    assert gate["passed"] and "pruned" in gate["detail"]


def publishable(wh, run_id, ndcg, ci):
    wh.write_json(run_id, S.QUALITY_REPORT, {"passed": True, "gate_failures": [], "files": {}})
    wh.write_json(
        run_id,
        S.EVALUATION_JSON,
        {
            "models": {"hybrid": {"ndcg@10": ndcg}, "popularity": {"ndcg@10": 0.01}},
            "intervals": {"hybrid": {"ndcg@10": {"mean": ndcg, "ci95": ci, "n_users": 50}}},
        },
    )


def test_publish_compares_with_latest_and_the_drift_gate_keeps_it(spark, pair, monkeypatch):
    cfg, wh = pair
    monkeypatch.setattr(publish, "PUBLISHED_TABLES", (S.USERS, S.SONGS, S.USER_RECOMMENDATIONS))
    publishable(wh, "2026-11-23", 0.30, 0.01)
    publishable(wh, "2026-11-24", 0.25, 0.01)
    assert publish.run(spark, cfg, "2026-11-23")["published"] == "2026-11-23"
    first = wh.read_json("2026-11-23", S.MANIFEST)
    assert first["comparison"] is None and not wh.has_table("2026-11-23", S.RUN_COMPARISON)

    strict = cfg.replace("publish.drift.enabled=true")
    with pytest.raises(JobFailed, match=r"latest stays at 2026-11-23: drift: .*hybrid ndcg@10"):
        publish.run(spark, strict, "2026-11-24")
    assert wh.latest_run_id() == "2026-11-23"
    refused = wh.read_json("2026-11-24", S.MANIFEST)
    assert refused["published"] is False and refused["compared_with"] == "2026-11-23"
    got = refused["comparison"]
    for key, want in HAND.items():
        if key != "top_k_jaccard_mean":  # publish reads top-10: every list whole
            assert got[key] == pytest.approx(want), key
    table = {
        r["figure"]: (r["previous"], r["current"])
        for r in wh.read_table_arrow("2026-11-24", S.RUN_COMPARISON).to_dict("records")
    }
    assert math.isnan(table["songs_entered"][0]) and table["songs_entered"][1] == 2.0
    assert table["hybrid ndcg@10"] == (pytest.approx(0.30), pytest.approx(0.25))

    # with the gate off the same run publishes, and its comparison says the same
    assert publish.run(spark, cfg, "2026-11-24")["published"] == "2026-11-24"
    again = wh.read_json("2026-11-24", S.MANIFEST)
    assert again["compared_with"] == "2026-11-23"  # publishing again compares with the same
    assert again["comparison"]["songs_left"] == 1
    assert publish.run(spark, cfg, "2026-11-24")["published"] == "2026-11-24"
    assert wh.read_json("2026-11-24", S.MANIFEST)["compared_with"] == "2026-11-23"


def test_a_baseline_without_lists_is_reported_not_fatal(spark, pair, monkeypatch):
    cfg, wh = pair
    monkeypatch.setattr(publish, "PUBLISHED_TABLES", (S.USERS, S.SONGS, S.USER_RECOMMENDATIONS))
    wh.set_latest("2026-11-22")  # a run whose tables are gone
    publishable(wh, "2026-11-24", 0.25, 0.01)
    strict = cfg.replace("publish.drift.enabled=true")
    assert publish.run(spark, strict, "2026-11-24")["published"] == "2026-11-24"
    manifest = wh.read_json("2026-11-24", S.MANIFEST)
    assert "run 2026-11-22 has no complete" in manifest["comparison"]["skipped"]
    drift_gate = [g for g in manifest["gates"] if g["name"] == "drift"][0]
    assert drift_gate["passed"] and "not checked" in drift_gate["detail"]


def _age(wh, run_id, days):
    """Make a run look written ``days`` ago (its files' times and its manifest's)."""
    import datetime as dt
    import os
    from pathlib import Path

    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    manifest = wh.read_json(run_id, S.MANIFEST)
    wh.write_json(run_id, S.MANIFEST, {**manifest, "created_at": then.isoformat()})
    for path in Path(wh.run_uri(run_id)).rglob("*"):
        os.utime(path, (then.timestamp(), then.timestamp()))


def test_publish_prunes_old_runs_when_configured(spark, pair, monkeypatch):
    cfg, wh = pair
    monkeypatch.setattr(publish, "PUBLISHED_TABLES", (S.USERS, S.SONGS, S.USER_RECOMMENDATIONS))
    publishable(wh, "2026-11-23", 0.30, 0.01)
    publishable(wh, "2026-11-24", 0.30, 0.01)
    publish.run(spark, cfg, "2026-11-23")
    _age(wh, "2026-11-23", 10)
    pruning = cfg.replace(
        "warehouse.retention.prune_after_publish=true",
        "warehouse.retention.keep=1",
        "warehouse.retention.min_age_days=7",
    )
    summary = publish.run(spark, pruning, "2026-11-24")
    assert summary["published"] == "2026-11-24" and summary["pruned"] == 1
    # the old run lost its tables, kept its documents; tonight's is whole
    assert not wh.has_table("2026-11-23", S.USER_RECOMMENDATIONS)
    assert wh.read_json("2026-11-23", S.MANIFEST)["published"] is True
    assert wh.read_json("2026-11-23", S.PRUNED)["state"] == "pruned"
    assert wh.has_table("2026-11-24", S.USER_RECOMMENDATIONS)
    # off (the default), nothing is pruned
    assert "pruned" not in publish.run(spark, cfg, "2026-11-24")
