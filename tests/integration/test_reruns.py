"""Re-runs and partial failure.

- Running ingest twice for the same run id gives identical tables: no duplicates, no
  leftovers of the first attempt.
- A spark-submit of the ingest job killed mid-run leaves no table a reader takes as complete,
  publish refuses the run (``latest`` stays put), and the next run of the job succeeds.
- A half-written table (part files and ``_temporary``, no ``_SUCCESS``) is refused by every
  reader and by publish's gate.

The whole pipeline run twice is in ``test_reruns_pipeline.py`` (integration, slower).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from chispa import assert_df_equality

from recsys import schemas as S
from recsys.errors import JobFailed, WarehouseError
from recsys.steps import ingest as ingest_step
from recsys.steps import publish
from recsys.storage.warehouse import SUCCESS_MARKER, Warehouse
from tests.support import REPO, ingest_submit_command, make_config

RUN = "rerun-1"
INGEST_TABLES = (S.QUARANTINE, S.INTERACTIONS, S.USERS, S.SONGS, S.LYRICS, S.VOCABULARY)
GOOD_EVAL = {"models": {"hybrid": {"ndcg@10": 0.3}, "popularity": {"ndcg@10": 0.1}}}


def snapshot(spark, wh: Warehouse, run_id: str, tables) -> dict:
    """The tables' rows held in Spark's block store, independent of the files."""
    return {t: wh.read_table(spark, run_id, t).localCheckpoint(eager=True) for t in tables}


def assert_same_tables(spark, wh: Warehouse, run_id: str, before: dict) -> None:
    for table, expected in before.items():
        assert_df_equality(
            wh.read_table(spark, run_id, table),
            expected,
            ignore_row_order=True,
            ignore_nullable=True,
        )


def files_per_folder(run_dir: Path) -> Counter:
    return Counter(str(p.parent.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())


def leftovers(run_dir: Path) -> list[str]:
    """Signs of an unfinished write anywhere under a run: ``_temporary`` folders."""
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("_temporary"))


@pytest.fixture(scope="module")
def first_ingest(spark, tiny_pipeline):
    """The tiny pipeline's ingest: its tables (held apart from the files) and its report."""
    cfg, run_id, _, _ = tiny_pipeline
    wh = Warehouse.from_config(cfg)
    return snapshot(spark, wh, run_id, INGEST_TABLES), wh.read_json(run_id, S.QUALITY_REPORT)


def test_ingest_twice_for_the_same_run_gives_identical_tables(
    spark, first_ingest, tiny_pipeline_copy
):
    cfg, run_id = tiny_pipeline_copy  # ingest already ran there once, with this config
    before, report = first_ingest
    wh = Warehouse.from_config(cfg)
    run_dir = Path(wh.run_uri(run_id))
    files_before = files_per_folder(run_dir)
    ingest_step.run(spark, cfg, run_id)
    assert_same_tables(spark, wh, run_id, before)  # no duplicates, no missing rows
    assert wh.read_json(run_id, S.QUALITY_REPORT) == report
    assert leftovers(run_dir) == []
    # as many files in each table as after the first attempt: nothing of it left beside
    assert files_per_folder(run_dir) == files_before


def _spark_submit_ingest(cfg, raw: Path, log: Path) -> subprocess.Popen:
    cmd = ingest_submit_command(raw, cfg.warehouse.dir, RUN)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        # its own process group: the kill reaches the JVM and its Python workers too
        return subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@pytest.mark.integration
def test_killed_ingest_leaves_no_complete_looking_table_and_the_next_run_succeeds(
    spark, tiny_raw, first_ingest, tmp_path
):
    raw, _ = tiny_raw
    cfg = make_config(tmp_path, f"input.dir={raw}")
    wh = Warehouse.from_config(cfg)
    wh.set_latest("published-before")  # a published run that must stay published
    first_table = Path(wh.table_uri(RUN, S.QUARANTINE)) / SUCCESS_MARKER
    log = tmp_path / "ingest.log"
    job = _spark_submit_ingest(cfg, raw, log)
    try:
        deadline = time.monotonic() + 900
        while not first_table.exists():
            if job.poll() is not None:
                pytest.fail(f"the job ended before it could be killed:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the job wrote no table in 15 minutes")
            time.sleep(0.02)
        os.killpg(job.pid, signal.SIGKILL)  # mid-run: the first table is done, others not
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL

    complete = [t for t in INGEST_TABLES if wh.has_table(RUN, t)]
    assert S.QUARANTINE in complete and len(complete) < len(INGEST_TABLES), complete
    for table in set(INGEST_TABLES) - set(complete):
        with pytest.raises(WarehouseError, match=rf"table '{table}' of run '{RUN}' is"):
            wh.read_table(spark, RUN, table)
        with pytest.raises(WarehouseError, match="missing|incomplete"):
            wh.read_table_arrow(RUN, table)
    with pytest.raises(WarehouseError, match="quality_report.json of run"):
        wh.read_json(RUN, S.QUALITY_REPORT)  # written last, so absent

    wh.write_json(RUN, S.EVALUATION_JSON, GOOD_EVAL)  # even with a good evaluation...
    with pytest.raises(JobFailed, match="latest stays at published-before: tables_complete"):
        publish.run(spark, cfg, RUN)
    assert wh.latest_run_id() == "published-before"

    # the next run of the job for the same run id succeeds and equals a clean run
    ingest_step.run(spark, cfg, RUN)
    assert all(wh.has_table(RUN, t) for t in INGEST_TABLES)
    assert leftovers(Path(wh.run_uri(RUN))) == []
    clean_tables, clean_report = first_ingest
    assert_same_tables(spark, wh, RUN, clean_tables)
    report = wh.read_json(RUN, S.QUALITY_REPORT)
    assert report["inputs"] == clean_report["inputs"] and report["passed"]


def _half_write(wh: Warehouse, run_id: str, table: str) -> None:
    """What a job killed during commit leaves: parts, a ``_temporary`` folder, no marker."""
    folder = Path(wh.table_uri(run_id, table))
    (folder / SUCCESS_MARKER).unlink()
    attempt = folder / "_temporary" / "0" / "_temporary" / "attempt_0"
    attempt.mkdir(parents=True)
    part = next(folder.glob("part-*"))
    shutil.copy(part, attempt / part.name)


def test_half_written_table_is_refused_by_readers_and_by_publish(spark, tmp_path, monkeypatch):
    cfg = make_config(tmp_path)
    wh = Warehouse.from_config(cfg)
    rows = spark.createDataFrame([(0, 0, 3), (1, 0, 1)], S.INTERACTIONS_SCHEMA)
    songs = spark.createDataFrame([(0, "SOA", "TRA", "a", "t", 1, False, 2, 4)], S.SONGS_SCHEMA)
    monkeypatch.setattr(publish, "PUBLISHED_TABLES", (S.INTERACTIONS, S.SONGS))
    for run_id in ("good", "half"):
        wh.write_table(rows, run_id, S.INTERACTIONS)
        wh.write_table(songs, run_id, S.SONGS)
        wh.write_json(run_id, S.QUALITY_REPORT, {"passed": True, "gate_failures": [], "files": {}})
        wh.write_json(run_id, S.EVALUATION_JSON, GOOD_EVAL)
    publish.run(spark, cfg, "good")
    assert wh.latest_run_id() == "good"

    _half_write(wh, "half", S.SONGS)
    assert not wh.has_table("half", S.SONGS)
    with pytest.raises(WarehouseError, match="incomplete \\(no _SUCCESS marker\\)"):
        wh.read_table(spark, "half", S.SONGS)
    with pytest.raises(WarehouseError, match="incomplete"):
        wh.read_table_arrow("half", S.SONGS)
    with pytest.raises(JobFailed, match=r"latest stays at good: tables_complete.*'songs'"):
        publish.run(spark, cfg, "half")
    assert wh.latest_run_id() == "good"
    manifest = wh.read_json("half", S.MANIFEST)
    assert manifest["published"] is False and manifest["tables"][S.SONGS] is None

    # the table's job writes it again: complete, no leftovers, and publish now passes
    wh.write_table(songs, "half", S.SONGS)
    assert leftovers(Path(wh.run_uri("half"))) == []
    assert publish.run(spark, cfg, "half")["published"] == "half"
    assert wh.latest_run_id() == "half"
