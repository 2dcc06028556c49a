"""Publishing gates: a failed gate writes the manifest and leaves latest alone."""

import pytest

from recsys import schemas as S
from recsys.errors import JobFailed
from recsys.steps import publish
from recsys.storage.warehouse import Warehouse
from tests.support import make_config

GOOD_EVAL = {"models": {"hybrid": {"ndcg@10": 0.3}, "popularity": {"ndcg@10": 0.1}}}


def all_tables(rows=5):
    return {name: rows for name in publish.PUBLISHED_TABLES}


def test_gates_pass_and_fail_for_the_right_reasons():
    quality = {"passed": True, "gate_failures": []}
    gates = publish.check_gates(all_tables(), quality, GOOD_EVAL, "ndcg@10", True)
    assert [g["passed"] for g in gates] == [True, True, True]
    assert "hybrid ndcg@10 0.3000 > popularity 0.1000" in gates[2]["detail"]

    worse = {"models": {"hybrid": {"ndcg@10": 0.1}, "popularity": {"ndcg@10": 0.1}}}
    gates = publish.check_gates(all_tables(), quality, worse, "ndcg@10", True)
    assert gates[2] == {
        "name": "beats_popularity",
        "passed": False,
        "detail": "hybrid ndcg@10 0.1000 <= popularity 0.1000",
    }
    missing = {**all_tables(), S.SIMILAR_SONGS: None}
    gates = publish.check_gates(
        missing, {"passed": False, "gate_failures": ["triplets: 5%"]}, None, "ndcg@10", True
    )
    assert not any(g["passed"] for g in gates)
    assert "similar_songs" in gates[0]["detail"] and gates[1]["detail"] == "triplets: 5%"
    assert "no ndcg@10" in gates[2]["detail"]
    assert len(publish.check_gates(all_tables(), quality, None, "ndcg@10", False)) == 2


def test_failed_gate_keeps_latest(spark, tmp_path):
    cfg = make_config(tmp_path)
    wh = Warehouse.from_config(cfg)
    wh.set_latest("good-run")
    df = spark.createDataFrame([(0, 0, 1)], S.INTERACTIONS_SCHEMA)
    wh.write_table(df, "new-run", S.INTERACTIONS)
    wh.write_json("new-run", S.QUALITY_REPORT, {"passed": True, "gate_failures": [], "files": {}})
    wh.write_json("new-run", S.EVALUATION_JSON, GOOD_EVAL)
    with pytest.raises(JobFailed, match="not published, latest stays at good-run: tables_complete"):
        publish.run(spark, cfg, "new-run")
    assert wh.latest_run_id() == "good-run"
    manifest = wh.read_json("new-run", S.MANIFEST)
    assert manifest["published"] is False and manifest["tables"][S.INTERACTIONS] == 1
    assert manifest["previous_latest"] == "good-run"
    assert manifest["config"]["publish"]["gate_metric"] == "ndcg@10"


def test_passing_gates_move_latest(spark, tmp_path, monkeypatch):
    cfg = make_config(tmp_path)
    wh = Warehouse.from_config(cfg)
    raw = tmp_path / "raw.txt"
    raw.write_text("u\tS\t1\n")
    wh.write_json(
        "r2",
        S.QUALITY_REPORT,
        {"passed": True, "gate_failures": [], "files": {"triplets": [str(raw)]}},
    )
    wh.write_json("r2", S.EVALUATION_JSON, GOOD_EVAL)
    monkeypatch.setattr(publish, "PUBLISHED_TABLES", (S.INTERACTIONS,))
    wh.write_table(spark.createDataFrame([(0, 0, 1)], S.INTERACTIONS_SCHEMA), "r2", S.INTERACTIONS)
    assert publish.run(spark, cfg, "r2")["published"] == "r2"
    assert wh.latest_run_id() == "r2"
    manifest = wh.read_json("r2", S.MANIFEST)
    assert manifest["inputs"]["triplets"][0]["bytes"] == 6
    assert manifest["published"] is True
