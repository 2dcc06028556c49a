"""Ingest the genuine MSD samples in ../shared/data; check facts a person can count by hand."""

import re

import pytest

from recsys import schemas as S
from recsys.steps import ingest as ingest_step
from recsys.storage.warehouse import Warehouse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_inputs(shared_data, tmp_path_factory):
    raw = tmp_path_factory.mktemp("real_raw")
    for name, sample in {
        "train_triplets.txt": "taste_profile_triplets.sample.txt",
        "unique_tracks.txt": "unique_tracks.sample.txt",
        "sid_mismatches.txt": "sid_mismatches.txt",
        "mxm_dataset_test.txt": "mxm_dataset_test.sample.txt",
    }.items():
        (raw / name).symlink_to(shared_data / sample)
    return raw


@pytest.fixture(scope="module")
def ingested(spark, real_inputs, tmp_path_factory):
    from tests.support import make_config

    cfg = make_config(tmp_path_factory.mktemp("real_wh"), f"input.dir={real_inputs}")
    summary = ingest_step.run(spark, cfg, "real")
    return cfg, Warehouse.from_config(cfg), summary


def test_counts_a_person_can_check(spark, ingested, real_inputs):
    cfg, wh, summary = ingested
    triplets = [
        line.split("\t")
        for line in (real_inputs / "train_triplets.txt")
        .read_text(encoding="utf-8")
        .split("\n")[:-1]
    ]
    mismatch_lines = (
        (real_inputs / "sid_mismatches.txt").read_text(encoding="utf-8").split("\n")[:-1]
    )
    mismatched = {re.match(r"ERROR: <(\S+) ", line).group(1) for line in mismatch_lines}
    # the facts the data README states
    assert len(triplets) == 10_000
    assert len({u for u, _, _ in triplets}) == 365
    assert len({s for _, s, _ in triplets}) == 5_175
    assert sum(int(p) for _, _, p in triplets) == 29_911
    assert len(mismatched) == 18_913
    assert len({s for _, s, _ in triplets} & mismatched) == 344

    kept = [(u, s, int(p)) for u, s, p in triplets if s not in mismatched]
    report = wh.read_json("real", S.QUALITY_REPORT)
    assert report["passed"] and report["missing_inputs"] == []
    t = report["inputs"]["triplets"]
    assert t["lines"] == 10_000
    assert t["quarantined"] == {"song_in_mismatch_list": 10_000 - len(kept)}
    assert t["malformed_lines"] == 0
    assert report["total_plays"] == sum(p for _, _, p in kept)
    assert summary["interactions"] == len({(u, s) for u, s, _ in kept})
    assert summary["users"] == 365
    songs = wh.read_table(spark, "real", S.SONGS)
    assert songs.filter("n_listeners > 0").count() == 5_175 - 344
    # the track list sample: 5,000 tracks, of whose songs 27 were played in the sample
    assert report["inputs"]["tracks"]["lines"] == 5_000
    played_with_metadata = songs.filter("n_listeners > 0 and n_tracks > 0").count()
    track_songs = {
        line.split("<SEP>")[1]
        for line in (real_inputs / "unique_tracks.txt").read_text(encoding="utf-8").split("\n")[:-1]
    }
    assert played_with_metadata == len(({s for _, s, _ in kept}) & track_songs)
    assert len({s for _, s, _ in triplets} & track_songs) == 27
    # musiXmatch: 17 comments + 1 word list, 8,259 tracks, none of them in the other samples
    lyr = report["inputs"]["lyrics"]
    assert (lyr["header_lines"], lyr["clean_lines"], lyr["malformed_lines"]) == (18, 8_259, 0)
    assert report["vocabulary"] == 5_000
    assert report["lyrics_tracks_without_song"] == 8_259
    assert wh.read_table(spark, "real", S.LYRICS).count() == 0


def test_quarantine_rows_point_at_their_lines(spark, ingested, real_inputs):
    _, wh, _ = ingested
    lines = (real_inputs / "train_triplets.txt").read_text(encoding="utf-8").split("\n")[:-1]
    rows = (
        wh.read_table(spark, "real", S.QUARANTINE)
        .filter("input = 'triplets'")
        .orderBy("line")
        .limit(50)
        .collect()
    )
    assert rows and all(lines[r["line"] - 1] == r["raw"] for r in rows)
    assert {r["category"] for r in rows} == {S.FILTERED}
