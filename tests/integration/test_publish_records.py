"""The manifest says which code ran, how long each step took, and whether tonight's input is
last night's (``publish.stale_inputs``)."""

from __future__ import annotations

import os

import pytest

from recsys import schemas as S
from recsys.errors import JobFailed
from recsys.steps import STEP_RECORD, publish, record_step
from recsys.storage.warehouse import Warehouse
from tests.support import make_config

GOOD_EVAL = {"models": {"hybrid": {"ndcg@10": 0.3}, "popularity": {"ndcg@10": 0.1}}}


def night(spark, wh: Warehouse, run_id: str, files: dict) -> None:
    """The documents and the one table publish reads, as a finished run leaves them."""
    rows = spark.createDataFrame([(0, 0, 3)], S.INTERACTIONS_SCHEMA)
    wh.write_table(rows, run_id, S.INTERACTIONS)
    wh.write_json(run_id, S.QUALITY_REPORT, {"passed": True, "gate_failures": [], "files": files})
    wh.write_json(run_id, S.EVALUATION_JSON, GOOD_EVAL)


@pytest.fixture()
def setup(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "PUBLISHED_TABLES", (S.INTERACTIONS,))
    raw = tmp_path / "raw" / "train_triplets.txt"
    raw.parent.mkdir()
    raw.write_text("u1\ts1\t3\n")
    files = {"triplets": [f"file://{raw}"]}
    return tmp_path, raw, files


def test_the_same_input_twice_is_named_and_refused_when_configured(spark, setup):
    tmp_path, raw, files = setup
    cfg = make_config(tmp_path)
    wh = Warehouse.from_config(cfg)
    night(spark, wh, "night1", files)
    publish.run(spark, cfg, "night1")
    assert wh.read_json("night1", S.MANIFEST)["warnings"] == []

    night(spark, wh, "night2", files)  # warn (the default): published, and said
    publish.run(spark, cfg, "night2")
    (warning,) = wh.read_json("night2", S.MANIFEST)["warnings"]
    assert warning.startswith("inputs: the 1 input file(s) have the same paths, sizes")
    assert "last published run night1" in warning
    assert wh.latest_run_id() == "night2"

    refuse = make_config(tmp_path, "publish.stale_inputs=refuse")
    night(spark, wh, "night3", files)
    with pytest.raises(JobFailed, match="latest stays at night2: fresh_inputs: inputs: the 1"):
        publish.run(spark, refuse, "night3")
    assert wh.latest_run_id() == "night2"

    raw.write_text("u1\ts1\t3\nu2\ts1\t1\n")  # a new night's file: another size
    os.utime(raw, (1_900_000_000, 1_900_000_000))
    night(spark, wh, "night4", files)
    publish.run(spark, refuse, "night4")
    assert wh.latest_run_id() == "night4"
    assert wh.read_json("night4", S.MANIFEST)["warnings"] == []

    ignore = make_config(tmp_path, "publish.stale_inputs=ignore")
    night(spark, wh, "night5", files)
    publish.run(spark, ignore, "night5")
    assert wh.read_json("night5", S.MANIFEST)["warnings"] == []


def test_the_manifest_gathers_each_steps_seconds_and_the_code(spark, setup, monkeypatch):
    tmp_path, _, files = setup
    cfg = make_config(tmp_path)
    wh = Warehouse.from_config(cfg)
    night(spark, wh, "r1", files)
    monkeypatch.setenv("RECSYS_CODE_VERSION", "abc1234")
    record_step(cfg, "r1", "ingest", {"interactions": 1}, 12.34)
    record_step(cfg, "r1", "train-als", {}, 5.0)
    doc = wh.read_json("r1", STEP_RECORD.format(name="ingest"))
    assert doc["seconds"] == 12.3 and doc["summary"] == {"interactions": 1}
    assert doc["code"]["commit"] == "abc1234" and doc["code"]["source"] == "env"
    publish.run(spark, cfg, "r1")
    manifest = wh.read_json("r1", S.MANIFEST)
    # recorded without Spark figures here (no step ran): the manifest says they are missing
    assert manifest["steps"] == [
        {"step": "ingest", "seconds": 12.3, "spark": {"available": False}},
        {"step": "train-als", "seconds": 5.0, "spark": {"available": False}},
    ]
    assert manifest["code"]["commit"] == "abc1234"
    # a deploy between two steps: the manifest shows each step's code
    monkeypatch.setenv("RECSYS_CODE_VERSION", "def5678")
    record_step(cfg, "r1", "train-als", {}, 5.0)
    publish.run(spark, cfg, "r1")
    mixed = wh.read_json("r1", S.MANIFEST)["code"]["mixed"]
    assert (mixed["ingest"]["commit"], mixed["train-als"]["commit"]) == ("abc1234", "def5678")


def test_the_tiny_pipelines_manifest_has_every_step_before_publish(tiny_pipeline):
    from recsys.steps import STEPS

    cfg, run_id, _, _ = tiny_pipeline
    manifest = Warehouse.from_config(cfg).read_json(run_id, S.MANIFEST)
    # in pipeline order; publish's own record comes after the manifest
    assert [s["step"] for s in manifest["steps"]] == [s.name for s in STEPS][:-1]
    assert all(s["seconds"] > 0 for s in manifest["steps"])
    assert manifest["code"]["package"] and manifest["code"]["commit"]
