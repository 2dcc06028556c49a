"""The ingest job end to end on tiny generated data, through spark-submit like on EMR."""

import json
import os
import subprocess

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.steps import ingest as ingest_step
from recsys.storage.warehouse import Warehouse
from tests.support import REPO, ingest_submit_command, make_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def submitted(tiny_raw, tmp_path_factory):
    raw, planted = tiny_raw
    root = tmp_path_factory.mktemp("ingest_job")
    cfg = make_config(root, f"input.dir={raw}")
    cmd = ingest_submit_command(raw, cfg.warehouse.dir, "tiny-1")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cfg, planted, proc


def test_tables_and_report_match_what_was_planted(spark, submitted):
    cfg, planted, proc = submitted
    assert "ingest done in" in proc.stdout
    wh = Warehouse.from_config(cfg)
    report = wh.read_json("tiny-1", S.QUALITY_REPORT)
    trip = report["inputs"]["triplets"]
    assert trip["lines"] == planted["triplet_lines"]
    malformed = {r: n for r, n in trip["quarantined"].items() if r not in S.FILTERED_REASONS}
    assert malformed == planted["triplet_malformed"]
    assert (
        trip["quarantined"]["song_in_mismatch_list"]
        == planted["triplet_valid_lines_with_mismatched_song"]
    )
    assert report["duplicate_triplet_lines"] == planted["duplicate_triplet_lines"]
    assert report["total_plays"] == planted["total_plays_expected"]
    assert report["tables"][S.INTERACTIONS] == planted["expected_interactions"]
    assert report["tables"][S.USERS] == planted["expected_users"]
    tracks = report["inputs"]["tracks"]
    assert {
        r: n for r, n in tracks["quarantined"].items() if r not in S.FILTERED_REASONS
    } == planted["tracks_malformed"]
    lyrics = report["inputs"]["lyrics"]
    assert lyrics["clean_lines"] == planted["lyrics_tracks"]
    assert lyrics["quarantined"] == planted["lyrics_malformed"]
    assert report["songs_with_lyrics"] == planted["songs_with_lyrics"]
    assert report["passed"] and report["missing_inputs"] == []
    # nothing lost: every raw line is clean, quarantined or a lyrics header line
    for name, entry in report["inputs"].items():
        accounted = entry["clean_lines"] + sum(entry["quarantined"].values())
        assert accounted + entry.get("header_lines", 0) == entry["lines"], name
    assert report["tables"][S.QUARANTINE] == sum(
        sum(e["quarantined"].values()) for e in report["inputs"].values()
    )


def test_tables_have_their_schemas_and_dense_ids(spark, submitted):
    cfg, planted, _ = submitted
    wh = Warehouse.from_config(cfg)
    for table, schema in [
        (S.INTERACTIONS, S.INTERACTIONS_SCHEMA),
        (S.USERS, S.USERS_SCHEMA),
        (S.SONGS, S.SONGS_SCHEMA),
        (S.LYRICS, S.LYRICS_SCHEMA),
        (S.QUARANTINE, S.QUARANTINE_SCHEMA),
    ]:
        got = wh.read_table(spark, "tiny-1", table).schema
        assert [(f.name, f.dataType.simpleString()) for f in got] == [
            (f.name, f.dataType.simpleString()) for f in schema
        ]
    users = wh.read_table(spark, "tiny-1", S.USERS)
    songs = wh.read_table(spark, "tiny-1", S.SONGS)
    n_users, n_songs = users.count(), songs.count()
    assert users.agg(F.min(S.USER), F.max(S.USER), F.countDistinct(S.USER)).first() == (
        0,
        n_users - 1,
        n_users,
    )
    assert songs.agg(F.min(S.SONG), F.max(S.SONG), F.countDistinct(S.SONG)).first() == (
        0,
        n_songs - 1,
        n_songs,
    )
    played = songs.filter("n_listeners > 0").count()
    assert played == planted["expected_played_songs"]
    assert songs.filter("n_listeners = 0").count() == planted["cold_songs"]
    single = users.filter("n_songs = 1").count()
    assert single >= 1
    quarantine = wh.read_table(spark, "tiny-1", S.QUARANTINE)
    assert quarantine.filter("line is null or line < 1").count() == 0


def test_submitted_job_writes_what_the_step_writes_in_process(spark, submitted, tiny_pipeline):
    """spark-submit of jobs/ingest.py and the tiny pipeline's in-process ingest agree."""
    cfg, _, _ = submitted
    tiny_cfg, tiny_run, _, _ = tiny_pipeline
    job, step = Warehouse.from_config(cfg), Warehouse.from_config(tiny_cfg)
    for table in (S.INTERACTIONS, S.USERS, S.SONGS, S.LYRICS, S.VOCABULARY, S.QUARANTINE):
        assert_df_equality(
            job.read_table(spark, "tiny-1", table),
            step.read_table(spark, tiny_run, table),
            ignore_row_order=True,
        )
    job_report = job.read_json("tiny-1", S.QUALITY_REPORT)
    assert job_report["inputs"] == step.read_json(tiny_run, S.QUALITY_REPORT)["inputs"]


def test_missing_optional_inputs_still_ingest(spark, tiny_raw, tmp_path):

    raw, planted = tiny_raw
    only = tmp_path / "only_triplets"
    only.mkdir()
    (only / "train_triplets.txt").symlink_to(raw / "train_triplets.txt")
    cfg = make_config(tmp_path, f"input.dir={only}")
    summary = ingest_step.run(spark, cfg, "only-triplets")
    report = Warehouse.from_config(cfg).read_json("only-triplets", S.QUALITY_REPORT)
    assert sorted(report["missing_inputs"]) == ["lyrics", "mismatches", "tracks"]
    assert sorted(summary["missing"].split(",")) == ["lyrics", "mismatches", "tracks"]
    assert report["songs_with_lyrics"] == 0
    # without the mismatch list nothing is filtered, so mismatched plays stay in
    assert report["tables"][S.INTERACTIONS] >= planted["expected_interactions"]


def test_gzip_inputs_read_transparently(spark, tmp_path):
    import sampledata as sample_data

    out = tmp_path / "gz"
    planted = sample_data.generate(out, size="tiny", seed=7, gzip=True)
    assert (out / "train_triplets.txt.gz").exists()
    cfg = make_config(tmp_path, f"input.dir={out}")
    ingest_step.run(spark, cfg, "gz")
    report = Warehouse.from_config(cfg).read_json("gz", S.QUALITY_REPORT)
    assert report["tables"][S.INTERACTIONS] == planted["expected_interactions"]
    assert report["inputs"]["lyrics"]["clean_lines"] == planted["lyrics_tracks"]


def test_bad_fraction_gate_fails_after_writing_the_quarantine(spark, tmp_path):
    from recsys.errors import JobFailed

    raw = tmp_path / "raw"
    raw.mkdir()
    good = "".join(f"{i:040x}\tSOAAAAAAAAAAAAAAAA\t{i + 1}\n" for i in range(90))
    (raw / "train_triplets.txt").write_text(good + "garbage line\n" * 10)
    cfg = make_config(tmp_path, f"input.dir={raw}", "ingest.max_bad_fraction=0.05")
    with pytest.raises(JobFailed, match=r"triplets: 10.00% of 100 lines are malformed"):
        ingest_step.run(spark, cfg, "bad")
    wh = Warehouse.from_config(cfg)
    assert wh.read_table(spark, "bad", S.QUARANTINE).count() == 10
    assert wh.read_json("bad", S.QUALITY_REPORT)["passed"] is False
    json.dumps(wh.read_json("bad", S.QUALITY_REPORT))


def test_no_triplets_is_a_clear_error(spark, tmp_path):
    from recsys.errors import InputError

    cfg = make_config(tmp_path, f"input.dir={tmp_path / 'nothing'}")
    with pytest.raises(InputError, match="triplets: no file matches"):
        ingest_step.run(spark, cfg, "empty")


def test_a_dated_input_dir_reads_the_nights_own_folder(spark, tmp_path):
    raw = tmp_path / "raw"
    for day, n in (("2026-11-23", 3), ("2026-11-24", 5)):
        (raw / day).mkdir(parents=True)
        lines = "".join(f"{i:040x}\tSOAAAAAAAAAAAAAAAA\t{i + 1}\n" for i in range(n))
        (raw / day / "train_triplets.txt").write_text(lines)
    cfg = make_config(tmp_path, f"input.dir={raw}/{{date}}")
    ingest_step.run(spark, cfg, "2026-11-24")
    report = Warehouse.from_config(cfg).read_json("2026-11-24", S.QUALITY_REPORT)
    assert report["tables"][S.INTERACTIONS] == 5
    assert report["files"]["triplets"] == [f"file:{raw}/2026-11-24/train_triplets.txt"]
