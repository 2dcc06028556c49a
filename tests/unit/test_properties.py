"""Property-based tests (hypothesis) of the raw-line parsers and the ranking metrics.

Parsers: random lines built from valid and invalid fragments (odd ids, wrong separators,
huge and malformed counts, invalid UTF-8 bytes, Unicode line separators) are classified by a
pure-Python reference written from the rules in ``recsys.inputs.parsers``; the Spark parser
must give the same reason (and the same fields for clean lines). Each example is a batch of
lines parsed in one DataFrame so a few examples cover many lines. Lines hold raw bytes (a
binary column cast to string keeps them undecoded, exactly as Spark's text reader does).

Metrics: Spark's per-user metrics on random lists with rank gaps, ties and duplicates stay in
[0, 1], give 1 for a perfect list, do not change when the list is permuted (recall at a K
that covers the list) or when songs are relabelled, and match the pure-Python oracle of
``tests/unit/test_evaluation.py``.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.evaluation import metrics as E
from recsys.inputs.lines import LINE_COLS
from recsys.inputs.parsers import parse_lyrics, parse_mismatches, parse_tracks, parse_triplets

from .test_evaluation import ref_ranked, ref_user

MAX_PLAYS = 100_000
VOCAB = 50
SPARK_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,  # the same examples every run: a seeded, repeatable test
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BYTE_LINES = T.StructType(
    [
        T.StructField("input", T.StringType()),
        T.StructField("source", T.StringType()),
        T.StructField("_block", T.LongType()),
        T.StructField("_mid", T.LongType()),
        T.StructField("raw_bytes", T.BinaryType()),
    ]
)

# --------------------------------------------------------------------------- reference
# Java's \s and Spark's trim are ASCII: spell them out rather than use Python's Unicode \s.
JAVA_SPACE = " \t\n\x0b\f\r"
ID_RE = re.compile(r"[^" + re.escape(JAVA_SPACE) + r"\x00-\x1f\x7f,]+")
MISMATCH_RE = re.compile(r"ERROR: <([^ \t\n\x0b\f\r<>]+) ([^ \t\n\x0b\f\r<>]+)>")


def decoded(raw: bytes) -> str | None:
    """The line as text, or None when Spark should call it bad_encoding."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\ufffd" in text else text


def is_blank(text: str) -> bool:
    return text.strip(" ") == ""


def bad_id(value: str) -> bool:
    return ID_RE.fullmatch(value) is None


def ref_triplet(raw: bytes) -> tuple:
    """(reason, user, song, plays) by the documented rules; fields None when not clean."""
    text = decoded(raw)
    if text is None:
        return ("bad_encoding",)
    if is_blank(text):
        return ("empty_line",)
    parts = text.split("\t")
    if len(parts) != 3:
        return ("wrong_field_count",)
    user, song, plays = parts[0], parts[1], parts[2].strip(" ")
    if user == "" or song == "":
        return ("empty_id",)
    if bad_id(user) or bad_id(song):
        return ("bad_id",)
    if re.fullmatch(r"[+-]?[0-9]+", plays) is None:
        return ("bad_play_count",)
    if not 0 < int(plays) <= MAX_PLAYS:
        return ("play_count_out_of_range",)
    return (None, user, song, int(plays))


def ref_track(raw: bytes) -> tuple:
    text = decoded(raw)
    if text is None:
        return ("bad_encoding",)
    if is_blank(text):
        return ("empty_line",)
    parts = text.split("<SEP>")
    if len(parts) != 4:
        return ("wrong_field_count",)
    if parts[0] == "" or parts[1] == "":
        return ("empty_id",)
    if bad_id(parts[0]) or bad_id(parts[1]):
        return ("bad_id",)
    return (None, *parts)


def ref_mismatch(raw: bytes) -> tuple:
    text = decoded(raw)
    if text is None:
        return ("bad_encoding",)
    if is_blank(text):
        return ("empty_line",)
    found = MISMATCH_RE.match(text)
    if found is None:
        return ("unparseable_mismatch",)
    return (None, found.group(1), found.group(2))


def ref_lyric(raw: bytes) -> tuple | None:
    """None for a header line ('#' comment or '%' word list), which is not data."""
    if raw.startswith((b"#", b"%")):
        return None
    text = decoded(raw)
    if text is None:
        return ("bad_encoding",)
    if is_blank(text):
        return ("empty_line",)
    parts = text.split(",")
    if len(parts) < 2:
        return ("wrong_field_count",)
    track, mxm, pairs = parts[0], parts[1], parts[2:]
    if track == "":
        return ("empty_id",)
    if bad_id(track):
        return ("bad_id",)
    if re.fullmatch(r"[0-9]+", mxm.strip(" ")) is None:
        return ("bad_mxm_id",)
    if any(re.fullmatch(r"[0-9]{1,9}:[0-9]{1,9}", p) is None for p in pairs):
        return ("bad_word_count",)
    idx = [int(p.split(":")[0]) for p in pairs]
    cnt = [int(p.split(":")[1]) for p in pairs]
    if any(c < 1 for c in cnt):
        return ("bad_word_count",)
    if any(not 1 <= i <= VOCAB for i in idx):
        return ("word_index_out_of_range",)
    return (None, track, idx, cnt)


# --------------------------------------------------------------------------- line strategies

USER_IDS = ["b80344d063b5ccb3212f76538f3d9e43d87dca9e", "u1", "ユーザー", "o'brien", "a<SEP>b"]
SONG_IDS = ["SOAKIMP12A8C130995", "SOB", "ソング", 'S"Q', "TRX"]
ODD = ["", " ", "\t", ",", "<SEP>", "<SE", ":", "'", '"', "ü", "花", "\ufffd", "\x00", "\x7f",
       "\x0b", "\x0c", "\xa0", "\u2028", "\u2029", "\x85", "ERROR: <", ">", "#", "%"]  # fmt: skip
BAD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\xe2\x82"]
COUNTS = ["1", "3", "100000", "100001", "0", "-3", "+5", " 7 ", "007", "2147483648",
          "99999999999999999999", "1e3", "2.5", "", "x"]  # fmt: skip

text_piece = st.sampled_from(USER_IDS + SONG_IDS + ODD + COUNTS).map(str.encode)
piece = st.one_of(*[text_piece] * 6, st.sampled_from(BAD_BYTES))


def mutated(parts: list[st.SearchStrategy[bytes]]) -> st.SearchStrategy[bytes]:
    """A line of the given parts, sometimes with a random fragment spliced in somewhere."""

    @st.composite
    def build(draw):
        chunks = [draw(p) for p in parts]
        if draw(st.sampled_from((False, False, False, True))):  # (integers favour 0)
            at = draw(st.integers(0, len(chunks)))
            chunks.insert(at, draw(piece))
        return b"".join(chunks)

    return build()


def lit(*values: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from(values).map(str.encode)


def sep(good: str) -> st.SearchStrategy[bytes]:
    return st.one_of(lit(good), lit(good), lit(good, ",", " ", "<SE", "\t\t", ""))


def random_line(min_size: int = 0) -> st.SearchStrategy[bytes]:
    return st.lists(piece, min_size=min_size, max_size=8).map(b"".join)


def mostly(structured: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Three lines in four near-valid, one in four random fragments."""
    return st.one_of(structured, structured, structured, random_line())


triplet_line = mostly(mutated([lit(*USER_IDS), sep("\t"), lit(*SONG_IDS), sep("\t"), lit(*COUNTS)]))
track_line = mostly(
    mutated(
        [
            lit("TRA", "TR'B", "TR,C"),
            sep("<SEP>"),
            lit(*SONG_IDS),
            sep("<SEP>"),
            lit("Björk", "Guns N' Roses", "花月", ""),
            sep("<SEP>"),
            lit("Jóga", '"T"', "<SE", ""),
        ]
    )
)
mismatch_line = mostly(
    mutated(
        [
            lit("ERROR: <", "ERROR:<", "error: <"),
            lit(*SONG_IDS),
            lit(" ", "  ", "\t"),
            lit("TRA", "TR B", ""),
            lit("> a != b", ">", ""),
        ]
    )
)
pair = st.tuples(st.integers(-1, VOCAB + 2), st.integers(-1, 4)).map(
    lambda p: f"{p[0]}:{p[1]}".encode()
)
ODD_PAIRS = ("1:2\u2028", "1:2\x85", "1:", ":2", "a:b", "1:2:3", "1234567890:1", "1:2 ", " 1:2")
lyric_line = mostly(
    mutated(
        [
            lit("TRA", "TR B", "", "#c", "%w"),
            sep(","),
            lit("123", " 4 ", "x", "", "12\u2028"),
            st.lists(st.one_of(pair, pair, lit(*ODD_PAIRS)), max_size=4).map(
                lambda ps: b"".join(b"," + p for p in ps)
            ),
        ]
    )
)


def without_line_breaks(lines: list[bytes]) -> list[bytes]:
    """Hadoop's reader splits on LF and CR: a line never holds them."""
    return [line.replace(b"\n", b"").replace(b"\r", b"") for line in lines]


def lines_frame(spark, name: str, lines: list[bytes]):
    rows = [(name, "f.txt", 0, i, bytearray(line)) for i, line in enumerate(lines)]
    frame = spark.createDataFrame(rows, BYTE_LINES)
    return frame.select(*LINE_COLS[:-1], F.col("raw_bytes").cast("string").alias("raw"))


def by_line(parsed, *fields: str) -> dict[int, tuple]:
    return {r["_mid"]: tuple(r[f] for f in ("reason", *fields)) for r in parsed.collect()}


def compare(parsed_rows: dict[int, tuple], ref, lines: list[bytes]) -> None:
    for i, line in enumerate(lines):
        want = ref(line)
        if want is None:
            assert i not in parsed_rows, line
            continue
        got = parsed_rows[i]
        if want[0] is None:
            assert got == want, line
        else:
            assert got[0] == want[0], (line, got, want)
    assert set(parsed_rows) <= set(range(len(lines)))


# --------------------------------------------------------------------------- parser properties


@SPARK_SETTINGS
@given(st.lists(triplet_line, min_size=30, max_size=60).map(without_line_breaks))
@example(lines=["u\tSO\t12\u2028".encode(), b"u\tSO\t 12 "])
def test_triplet_parser_matches_the_reference(spark, lines):
    parsed = parse_triplets(lines_frame(spark, "triplets", lines), MAX_PLAYS)
    compare(by_line(parsed, S.USER_ID, S.SONG_ID, S.PLAYS), ref_triplet, lines)


@SPARK_SETTINGS
@given(st.lists(track_line, min_size=30, max_size=60).map(without_line_breaks))
def test_track_parser_matches_the_reference(spark, lines):
    parsed = parse_tracks(lines_frame(spark, "tracks", lines))
    compare(by_line(parsed, S.TRACK_ID, S.SONG_ID, S.ARTIST, S.TITLE), ref_track, lines)


@SPARK_SETTINGS
@given(st.lists(mismatch_line, min_size=30, max_size=60).map(without_line_breaks))
def test_mismatch_parser_matches_the_reference(spark, lines):
    parsed = parse_mismatches(lines_frame(spark, "mismatches", lines))
    compare(by_line(parsed, S.SONG_ID, S.TRACK_ID), ref_mismatch, lines)


@SPARK_SETTINGS
@given(st.lists(lyric_line, min_size=30, max_size=60).map(without_line_breaks))
# found by this test: Java's $ matched before U+2028, so these parsed clean with a null count
@example(lines=["TRA,123,1:2\u2028".encode(), "TRA,12\x85,1:2".encode(), b"TRA,1,1:2"])
def test_lyrics_parser_matches_the_reference(spark, lines):
    parsed = parse_lyrics(lines_frame(spark, "lyrics", lines), VOCAB)
    compare(by_line(parsed, S.TRACK_ID, S.WORD_IDX, S.WORD_COUNT), ref_lyric, lines)


TRIPLET_FIELDS = (S.USER_ID, S.SONG_ID, S.PLAYS)
LYRIC_FIELDS = (S.TRACK_ID, S.WORD_IDX, S.WORD_COUNT)


@settings(SPARK_SETTINGS, max_examples=6)  # each example: four parsers, 30-60 lines each
@given(st.lists(random_line(), min_size=30, max_size=60).map(without_line_breaks))
def test_parsers_classify_any_bytes_once_as_the_reference_does(spark, lines):
    """Each parser is total on arbitrary bytes: every data line comes out exactly once, clean
    or with one malformed reason, the reference's."""
    parsers = [
        ("triplets", lambda f: parse_triplets(f, MAX_PLAYS), ref_triplet, TRIPLET_FIELDS),
        ("tracks", parse_tracks, ref_track, (S.TRACK_ID, S.SONG_ID, S.ARTIST, S.TITLE)),
        ("mismatches", parse_mismatches, ref_mismatch, (S.SONG_ID, S.TRACK_ID)),
        ("lyrics", lambda f: parse_lyrics(f, VOCAB), ref_lyric, LYRIC_FIELDS),
    ]
    for name, parse, ref, fields in parsers:
        rows = parse(lines_frame(spark, name, lines)).collect()
        mids = [r["_mid"] for r in rows]
        assert len(mids) == len(set(mids)), name  # no line twice
        data = [i for i, line in enumerate(lines) if ref(line) is not None]
        assert sorted(mids) == data, name  # every data line; lyrics headers are not data
        assert {r["reason"] for r in rows} <= {None, *S.MALFORMED_REASONS}, name
        compare({r["_mid"]: tuple(r[f] for f in ("reason", *fields)) for r in rows}, ref, lines)


# --------------------------------------------------------------------------- metric properties

# one user's list as (song, rank) rows: ranks with gaps and ties, sometimes a song twice
user_case = st.tuples(
    st.lists(st.tuples(st.integers(0, 15), st.integers(1, 40)), max_size=10),
    st.sets(st.integers(0, 15), min_size=1, max_size=6),
)
KS = [1, 3, 5, 20]  # 20 covers every list: recall there ignores the order


@settings(SPARK_SETTINGS, max_examples=4)  # each example is 4-48 users in one Spark call
@given(st.lists(user_case, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_spark_metrics_invariants_on_random_lists(spark, users, rnd):
    """Four copies of each user in one DataFrame: as drawn, permuted, relabelled, perfect."""
    n = len(users)
    relabel = {s: 3 * s + 100 for s in range(16)}  # new ids, same order (ties break by id)
    recs, relevant = [], []
    for u, (rows, rel) in enumerate(users):
        ranked = ref_ranked(rows)
        permuted = ranked[:]
        rnd.shuffle(permuted)
        variants = {
            u: rows,
            u + n: [(s, i + 1) for i, s in enumerate(permuted)],
            u + 2 * n: [(relabel[s], r) for s, r in rows],
            u + 3 * n: [(s, i + 1) for i, s in enumerate(sorted(rel))],
        }
        for user, variant in variants.items():
            recs += [(user, s, r) for s, r in variant]
            songs = {relabel[s] for s in rel} if user == u + 2 * n else rel
            relevant += [(user, s) for s in songs]
    recs_df = spark.createDataFrame(recs, "user_idx int, song_idx int, rank int")
    test_df = spark.createDataFrame(relevant, "user_idx int, song_idx int")
    got = {
        r[S.USER]: r.asDict() for r in E.per_user_ranking_metrics(recs_df, test_df, KS).collect()
    }
    assert set(got) == set(range(4 * n))
    for u, (rows, rel) in enumerate(users):
        drawn, permuted, relabelled, perfect = (got[u + i * n] for i in range(4))
        for k in KS:
            want = ref_user(ref_ranked(rows), rel, k)
            for metric in S.RANKING_METRICS:
                name = f"{metric}_at_{k}"
                assert 0.0 <= drawn[name] <= 1.0 + 1e-12
                assert drawn[name] == pytest.approx(want[metric], abs=1e-9)
                assert relabelled[name] == pytest.approx(drawn[name], abs=1e-12)
            assert perfect[f"ndcg_at_{k}"] == pytest.approx(1.0)
            assert perfect[f"map_at_{k}"] == pytest.approx(1.0)
            assert perfect[f"recall_at_{k}"] == pytest.approx(min(len(rel), k) / len(rel))
        assert permuted["recall_at_20"] == pytest.approx(drawn["recall_at_20"])
        assert permuted["precision_at_20"] == pytest.approx(drawn["precision_at_20"])
