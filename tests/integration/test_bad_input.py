"""Bad raw input against the real ingest: every case ends in a clear error naming the file or
in the quarantine, and no line is lost (lines in = clean + quarantined + counted header lines).

Line counts are checked against an independent count of the bytes written (Hadoop's line
reader splits on LF, CRLF and CR, like ``bytes.splitlines``), so a line the parser dropped
cannot hide in a total computed from the same DataFrame.
"""

from __future__ import annotations

import gzip
import random
from collections import Counter
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import InputError, JobFailed
from recsys.inputs.lines import LYRICS, MISMATCHES, TRACKS, TRIPLETS
from recsys.inputs.tables import build_tables
from recsys.steps import ingest as ingest_step
from recsys.storage.raw import FileHead, check_file
from recsys.storage.warehouse import Warehouse
from tests.support import make_config
from tests.unit.test_ingest_parsers import LINE_SCHEMA

RUN = "bad-1"
U1 = "b80344d063b5ccb3212f76538f3d9e43d87dca9e"
U2 = "85c1f87fea955d09b4bec2e36aee110927aab90e"
FILES = {
    TRIPLETS: "train_triplets.txt",
    TRACKS: "unique_tracks.txt",
    MISMATCHES: "sid_mismatches.txt",
    LYRICS: "mxm_dataset_train.txt",
}

# (raw line bytes, expected reason or None for clean, line ending); the last line of each
# file is cut mid-field and has no trailing newline, as a download cut short would leave it.
TRIPLET_CASES = [
    (f"{U1}\tSOAAA\t3", None),
    ("ユーザー\tSOAAA\t1", None),  # unicode id
    ("o'brien\"x\tSOBBB\t2", None),  # quotes in an id
    ("a<SEP>b\tSOBBB\t4", None),  # a <SEP> fragment in a triplet id is just characters
    (f"{U1}\tSOBBB\t5\r", None),  # CRLF line ending
    (f"{U2}\tSOAAA\t100000", None),  # exactly max_play_count
    (f"{U2}\tSOBBB\t 8 ", None),  # blanks around the count are tolerated
    (f"{U2}\tSOCCC\t2147483647", "play_count_out_of_range"),  # INT_MAX, above the max
    (f"{U2}\tSOCCC\t2147483648", "play_count_out_of_range"),  # does not fit an int
    (f"{U2}\tSOCCC\t9223372036854775808", "play_count_out_of_range"),  # does not fit a long
    (f"{U2}\tSOCCC\t1e3", "bad_play_count"),
    (f"{U2}\tSOCCC\t-1", "play_count_out_of_range"),
    (f"{U2}\tSOCCC\t0", "play_count_out_of_range"),
    ("u,1\tSOAAA\t1", "bad_id"),
    ("u\x00x\tSOAAA\t1", "bad_id"),
    (f"{U1},SOAAA,1", "wrong_field_count"),  # commas instead of tabs
    (f"{U1} SOAAA 1", "wrong_field_count"),  # spaces instead of tabs
    (f"{U1}\tSOAAA 1", "wrong_field_count"),
    (b"\xff\xfe\x00\x13garb\x80age\x01\x02\t\x9c", "bad_encoding"),  # binary garbage
    ("u\ufffd\tSOAAA\t1", "bad_encoding"),  # a replacement character: damaged upstream
    ("", "empty_line"),
    (f"{U2}\tSOMISM\t2", "song_in_mismatch_list"),
    (f"{U2}\tSOB", "wrong_field_count"),  # truncated
]
TRACK_CASES = [
    ("TRA<SEP>SOAAA<SEP>Björk<SEP>Jóga", None),
    ('TRB<SEP>SOBBB<SEP>Guns N\' Roses<SEP>"Sweet" Child <SE', None),
    ("TRC<SEP>SOCCC<SEP>花月<SEP>夜雨 <SEP> extra", "wrong_field_count"),
    ("TRM<SEP>SOMISM<SEP>X<SEP>Y", "song_in_mismatch_list"),
    ("TRD,SODDD,Artist,Title", "wrong_field_count"),
    (b"TRG<SEP>SOGGG<SEP>\xc3\x28<SEP>\xff\x00", "bad_encoding"),  # binary garbage
    ("TRE<SEP>SOEEE<SEP>Art", "wrong_field_count"),  # truncated
]
MISMATCH_CASES = [
    ("ERROR: <SOMISM TRM> Artist - Title  !=  Other - Other", None),
    ("ERROR: <SOUNKNOWN1 TRUNKNOWN1> a  !=  b", None),  # ids nothing else mentions
    ("ERROR: <SOUNKNOWN2 TRUNKNOWN2> a  !=  b", None),
    ("garbage line", "unparseable_mismatch"),
    (b"ERROR: <SO\xfe\xff TR\x80>", "bad_encoding"),
    ("ERROR: <SOUNK", "unparseable_mismatch"),  # truncated
]
LYRIC_CASES = [
    ("# musiXmatch bag of words", "#"),
    ("# a second comment", "#"),
    ("%love,you,baby", "%"),
    ("TRA,123,1:2,2:1", None),
    ("TRB,456,3:1", None),
    (b"\x8b\x1f,\x00\x01,1:2", "bad_encoding"),
    ("TRD,12,1:2\u2028", "bad_word_count"),  # a Unicode line separator stays in the line
    ("TRC,789,1:2,3:", "bad_word_count"),  # truncated
]
CASES = {
    TRIPLETS: TRIPLET_CASES,
    TRACKS: TRACK_CASES,
    MISMATCHES: MISMATCH_CASES,
    LYRICS: LYRIC_CASES,
}


def _bytes(line: str | bytes) -> bytes:
    return line if isinstance(line, bytes) else line.encode("utf-8")


def file_bytes(cases: list[tuple]) -> bytes:
    """One file: every case line with LF, except the last (no trailing newline)."""
    return b"\n".join(_bytes(line) for line, _ in cases)


def write_raw(folder: Path, contents: dict[str, bytes], gz: tuple[str, ...] = ()) -> Path:
    """Write raw files by input name; inputs in ``gz`` are gzip'd under a ``.gz`` name."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        if name in gz:
            (folder / (FILES[name] + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / FILES[name]).write_bytes(data)
    return folder


def independent_line_count(folder: Path, name: str) -> int:
    """Lines of an input as written, counted without Spark."""
    total = 0
    for path in folder.glob(FILES[name].replace("*", "") + "*"):
        data = path.read_bytes()
        total += len((gzip.decompress(data) if path.suffix == ".gz" else data).splitlines())
    return total


def assert_accounted(report: dict, folder: Path) -> None:
    """Every input line is clean, quarantined or a counted header line; none unaccounted."""
    quarantined = 0
    for name, entry in report["inputs"].items():
        assert entry["lines"] == independent_line_count(folder, name), name
        in_quarantine = sum(entry["quarantined"].values())
        assert (
            entry["clean_lines"] + in_quarantine + entry.get("header_lines", 0) == entry["lines"]
        ), (name, entry)
        assert entry["unaccounted_lines"] == 0, name
        quarantined += in_quarantine
    assert report["tables"][S.QUARANTINE] == quarantined


def run_ingest(spark, root: Path, raw: Path, *overrides: str):
    cfg = make_config(root, f"input.dir={raw}", *overrides)
    summary = ingest_step.run(spark, cfg, RUN)
    return cfg, summary


def report_of(cfg) -> dict:
    return Warehouse.from_config(cfg).read_json(RUN, S.QUALITY_REPORT)


# ----------------------------------------------------------------------------- messy inputs


@pytest.fixture(scope="module")
def messy(spark, tmp_path_factory):
    """Every line-level defect at once, ingested with the gate open (max_bad_fraction=1)."""
    root = tmp_path_factory.mktemp("messy")
    raw = write_raw(root / "raw", {name: file_bytes(cases) for name, cases in CASES.items()})
    cfg, summary = run_ingest(spark, root, raw, "ingest.max_bad_fraction=1.0")
    return raw, cfg, summary


def test_messy_inputs_are_quarantined_with_their_reasons_and_nothing_is_lost(spark, messy):
    raw, cfg, _ = messy
    report = report_of(cfg)
    assert_accounted(report, raw)
    for name, cases in CASES.items():
        expected = Counter(r for _, r in cases if r not in (None, "#", "%"))
        assert report["inputs"][name]["quarantined"] == dict(expected), name
        assert report["inputs"][name]["clean_lines"] == sum(r is None for _, r in cases), name
    lyrics = report["inputs"][LYRICS]
    assert (lyrics["comment_lines"], lyrics["wordlist_lines"]) == (2, 1)
    # the quarantine holds each bad line with its file's line number and reason
    quarantine = Warehouse.from_config(cfg).read_table(spark, RUN, S.QUARANTINE)
    got = {(r["input"], r["line"], r["reason"]) for r in quarantine.collect()}
    want = {
        (name, i, reason)
        for name, cases in CASES.items()
        for i, (_, reason) in enumerate(cases, 1)
        if reason not in (None, "#", "%")
    }
    assert got == want
    stored = {(r["input"], r["line"]): r["raw"] for r in quarantine.collect()}
    assert stored[(TRIPLETS, len(TRIPLET_CASES))] == f"{U2}\tSOB"  # the truncated tail
    assert stored[(TRIPLETS, 16)] == f"{U1},SOAAA,1"


def test_odd_ids_round_trip_and_huge_counts_never_reach_the_tables(spark, messy):
    _, cfg, summary = messy
    wh = Warehouse.from_config(cfg)
    users = {r[S.USER_ID] for r in wh.read_table(spark, RUN, S.USERS).collect()}
    assert users == {U1, U2, "ユーザー", "o'brien\"x", "a<SEP>b"}
    songs = {r[S.SONG_ID]: r for r in wh.read_table(spark, RUN, S.SONGS).collect()}
    assert (songs["SOAAA"][S.ARTIST], songs["SOAAA"][S.TITLE]) == ("Björk", "Jóga")
    assert songs["SOBBB"][S.TITLE] == '"Sweet" Child <SE'
    assert "SOMISM" not in songs and "SOCCC" not in songs  # mismatched / only bad lines
    plays = wh.read_table(spark, RUN, S.INTERACTIONS).agg(F.max(S.PLAYS), F.sum(S.PLAYS)).first()
    assert plays[0] == 100_000
    assert plays[1] == 3 + 1 + 2 + 4 + 5 + 100_000 + 8
    report = report_of(cfg)
    assert report["total_plays"] == plays[1]
    # the mismatch list names two songs nothing else mentions: counted, not an error
    assert (report["mismatch_song_ids"], report["mismatch_song_ids_unmatched"]) == (3, 2)
    assert summary["interactions"] == 7


def test_gzip_inputs_that_are_meant_read_like_plain_text(spark, messy, tmp_path):
    raw, cfg, _ = messy
    contents = {name: file_bytes(cases) for name, cases in CASES.items()}
    raw_gz = write_raw(tmp_path / "raw", contents, gz=(TRIPLETS, TRACKS, LYRICS))
    assert (raw_gz / "train_triplets.txt.gz").exists() and not (raw_gz / FILES["triplets"]).exists()
    cfg_gz, _ = run_ingest(spark, tmp_path, raw_gz, "ingest.max_bad_fraction=1.0")
    plain, zipped = Warehouse.from_config(cfg), Warehouse.from_config(cfg_gz)
    for table in (S.INTERACTIONS, S.USERS, S.SONGS, S.LYRICS, S.VOCABULARY, S.QUARANTINE):
        assert_df_equality(
            plain.read_table(spark, RUN, table).drop("source"),
            zipped.read_table(spark, RUN, table).drop("source"),
            ignore_row_order=True,
            ignore_nullable=True,
        )
    report = report_of(cfg_gz)
    assert report["inputs"] == report_of(cfg)["inputs"]
    assert_accounted(report, raw_gz)


def test_huge_play_counts_allowed_by_config_are_summed_without_overflow(spark):
    """With max_play_count at INT_MAX, duplicate lines sum past it: clamped in interactions,
    exact (long) in users and the report."""
    big = 2**31 - 1
    raws = [f"{U1}\tSOAAA\t{big}", f"{U1}\tSOAAA\t{big}", f"{U1}\tSOBBB\t{big}", f"{U2}\tSOBBB\t1"]
    empty = spark.createDataFrame([], LINE_SCHEMA)
    trip = spark.createDataFrame(
        [(TRIPLETS, "t.txt", 0, i, r) for i, r in enumerate(raws)], LINE_SCHEMA
    )
    lines = {TRIPLETS: trip, TRACKS: empty, MISMATCHES: empty}
    lines[LYRICS] = empty
    result = build_tables(lines, max_play_count=big)
    got = {(r[S.USER], r[S.SONG]): r[S.PLAYS] for r in result.interactions.collect()}
    assert got == {(1, 0): big, (1, 1): big, (0, 1): 1}  # users sorted: U2 < U1
    n_plays = {r[S.USER_ID]: r["n_plays"] for r in result.users.collect()}
    assert n_plays == {U1: 3 * big, U2: 1}
    assert result.counts["total_plays"] == 3 * big + 1


# ----------------------------------------------------------------------------- whole files


def test_empty_optional_inputs_run_on(spark, tmp_path):
    triplets = f"{U1}\tSOAAA\t3\n{U2}\tSOBBB\t1\n".encode()
    raw = write_raw(
        tmp_path / "raw",
        {
            TRIPLETS: triplets,
            TRACKS: b"",
            MISMATCHES: b"",
            LYRICS: b"# only a comment, no data and no word list\n",
        },
    )
    cfg, summary = run_ingest(spark, tmp_path, raw)
    report = report_of(cfg)
    assert report["passed"] and summary["interactions"] == 2 and summary["songs"] == 2
    assert sorted(Path(p).name for p in report["empty_files"]) == sorted(
        [FILES[TRACKS], FILES[MISMATCHES]]
    )
    assert report["inputs"][LYRICS]["header_lines"] == 1
    assert report["tables"][S.LYRICS] == 0 and report["tables"][S.VOCABULARY] == 0
    assert_accounted(report, raw)


@pytest.mark.parametrize("gz", [False, True])
def test_empty_triplets_file_is_a_clear_error_naming_it(spark, tmp_path, gz):
    raw = tmp_path / "raw"
    raw.mkdir()
    name = FILES[TRIPLETS] + (".gz" if gz else "")
    (raw / name).write_bytes(b"")
    (raw / FILES[TRACKS]).write_bytes(b"TRA<SEP>SOAAA<SEP>a<SEP>t\n")
    with pytest.raises(InputError, match=rf"triplets: \S*/{name} is empty \(0 bytes\)"):
        run_ingest(spark, tmp_path, raw)
    assert not (tmp_path / "warehouse" / "runs" / RUN).exists()  # refused before writing


def test_gzip_named_txt_is_refused_naming_the_file(spark, tmp_path):
    raw = write_raw(tmp_path / "raw", {TRIPLETS: f"{U1}\tSOAAA\t3\n".encode()})
    (raw / FILES[TRACKS]).write_bytes(gzip.compress(b"TRA<SEP>SOAAA<SEP>a<SEP>t\n"))
    with pytest.raises(InputError) as err:
        run_ingest(spark, tmp_path, raw)
    message = str(err.value)
    assert f"tracks: file:{raw / FILES[TRACKS]} is gzip-compressed" in message
    assert "rename it to end in .gz" in message
    assert not (tmp_path / "warehouse" / "runs" / RUN).exists()


def test_gz_file_that_is_not_gzip_is_refused(spark, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "train_triplets.txt.gz").write_bytes(f"{U1}\tSOAAA\t3\n".encode())
    with pytest.raises(InputError, match="train_triplets.txt.gz is named as gzip but"):
        run_ingest(spark, tmp_path, raw)


@pytest.mark.parametrize(
    "head, codec, problem",
    [
        (b"\x1f\x8b\x08\x00", None, "is gzip-compressed"),
        (b"BZh91AY&SY", None, "is bzip2-compressed"),
        (b"PK\x03\x04\x14\x00", None, "is zip-compressed"),
        (b"BZh is fine", None, None),  # text that merely starts like bzip2
        (b"\x1f\x8b\x08\x00", "gzip", None),
        (b"plain text", "gzip", "is named as gzip"),
        (b"TRA<SEP>SO", None, None),
    ],
)
def test_check_file_by_first_bytes(head, codec, problem):
    found = check_file("tracks", FileHead("/d/f", 100, codec, head))
    if problem is None:
        assert found is None
    else:
        assert found.startswith("tracks: /d/f ") and problem in found


def test_truncated_gzip_is_a_clear_error_naming_the_file(spark, tmp_path):
    body = "".join(f"{U1}\tSO{i:06d}\t{i % 7 + 1}\n" for i in range(20_000)).encode()
    data = gzip.compress(body)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "train_triplets.txt.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        run_ingest(spark, tmp_path, raw)
    message = str(err.value)
    assert message.startswith(f"triplets: file:{raw}/train_triplets.txt.gz could not be read")
    assert "EOFException" in message and "truncated or corrupt" in message


def test_wrong_delimiters_everywhere_end_in_an_error_with_a_hint(spark, tmp_path):
    lines = [f"{U1},SO{i:03d},{i + 1}" for i in range(5)]
    raw = write_raw(tmp_path / "raw", {TRIPLETS: "\n".join(lines).encode() + b"\n"})
    with pytest.raises(InputError) as err:
        run_ingest(spark, tmp_path, raw)
    message = str(err.value)
    assert "triplets: no valid triplet among the 5 lines of" in message
    assert "wrong_field_count=5" in message
    assert f"train_triplets.txt:1 (wrong_field_count): '{lines[0]}'" in message
    assert "looks comma-separated" in message
    assert_accounted(report_of(make_config(tmp_path)), raw)  # written before the error


def test_binary_garbage_fails_the_gate_naming_the_input_and_a_line(spark, tmp_path):
    rng = random.Random(3)
    garbage = bytes(rng.randrange(256) for _ in range(4000))
    triplets = "".join(f"{U1}\tSO{i:03d}\t1\n" for i in range(20)).encode()
    raw = write_raw(tmp_path / "raw", {TRIPLETS: triplets, TRACKS: garbage})
    with pytest.raises(JobFailed) as err:
        run_ingest(spark, tmp_path, raw)
    message = str(err.value)
    assert "ingest quality gate failed" in message
    assert "tracks: " in message and "bad_encoding=" in message
    assert "first: file:" + str(raw / FILES[TRACKS]) + ":" in message
    report = report_of(make_config(tmp_path))
    assert not report["passed"] and report["inputs"][TRIPLETS]["clean_lines"] == 20
    assert_accounted(report, raw)


def test_lyrics_without_their_word_list_is_a_clear_error(spark, tmp_path):
    raw = write_raw(
        tmp_path / "raw",
        {
            TRIPLETS: f"{U1}\tSOAAA\t3\n".encode(),
            LYRICS: b"# comment\nTRA,123,1:2,2:1\n",
        },
    )
    with pytest.raises(InputError) as err:
        run_ingest(spark, tmp_path, raw)
    assert "lyrics: no '%' word-list line found" in str(err.value)
    assert str(raw / FILES[LYRICS]) in str(err.value)


def test_missing_triplets_names_the_pattern(spark, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with pytest.raises(InputError, match=r"triplets: no file matches .*train_triplets"):
        run_ingest(spark, tmp_path, raw)
