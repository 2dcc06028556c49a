"""Each raw-format parser on inline lines: good rows parse, every malformed kind is quarantined."""

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.inputs.lines import with_line_numbers
from recsys.inputs.parsers import (
    parse_lyrics,
    parse_mismatches,
    parse_tracks,
    parse_triplets,
    parse_vocabulary,
)
from recsys.inputs.tables import dense_index
from recsys.storage.raw import read_lines

LINE_SCHEMA = T.StructType(
    [
        T.StructField("input", T.StringType()),
        T.StructField("source", T.StringType()),
        T.StructField("_block", T.LongType()),
        T.StructField("_mid", T.LongType()),
        T.StructField("raw", T.StringType()),
    ]
)
USER = "b80344d063b5ccb3212f76538f3d9e43d87dca9e"


def lines_df(spark, name, raws):
    rows = [(name, "f.txt", 0, i, raw) for i, raw in enumerate(raws)]
    return spark.createDataFrame(rows, LINE_SCHEMA)


def reasons(df):
    return [r["reason"] for r in df.orderBy("_mid").select("reason").collect()]


def test_triplets_good_and_malformed(spark):
    raws = [
        f"{USER}\tSOAKIMP12A8C130995\t1",
        f"{USER}\tSOAPDEY12A81C210A9\t 12 ",  # spaces around plays are tolerated
        "",
        "   ",
        f"{USER}\tSOAKIMP12A8C130995",
        f"{USER}\tSOAKIMP12A8C130995\t1\textra",
        "\tSOAKIMP12A8C130995\t1",
        f"{USER}\t\t1",
        f"{USER}\tSO AKIMP\t1",
        f"{USER}\tSOAKIMP12A8C130995\tabc",
        f"{USER}\tSOAKIMP12A8C130995\t2.5",
        f"{USER}\tSOAKIMP12A8C130995\t0",
        f"{USER}\tSOAKIMP12A8C130995\t-3",
        f"{USER}\tSOAKIMP12A8C130995\t100001",
        f"{USER}\tSOAKIMP12A8C130995\t99999999999999999999999",
        f"{USER}\ufffd\tSOAKIMP12A8C130995\t1",
        f"{USER},SOAKIMP12A8C130995,1",
    ]
    parsed = parse_triplets(lines_df(spark, "triplets", raws), max_play_count=100_000)
    assert reasons(parsed) == [
        None,
        None,
        "empty_line",
        "empty_line",
        "wrong_field_count",
        "wrong_field_count",
        "empty_id",
        "empty_id",
        "bad_id",
        "bad_play_count",
        "bad_play_count",
        "play_count_out_of_range",
        "play_count_out_of_range",
        "play_count_out_of_range",
        "play_count_out_of_range",
        "bad_encoding",
        "wrong_field_count",
    ]
    good = parsed.filter("reason is null").select(S.USER_ID, S.SONG_ID, S.PLAYS)
    expected = spark.createDataFrame(
        [(USER, "SOAKIMP12A8C130995", 1), (USER, "SOAPDEY12A81C210A9", 12)],
        "user_id string, song_id string, plays int",
    )
    assert_df_equality(good, expected, ignore_row_order=True, ignore_nullable=True)


def test_tracks_keep_odd_titles_and_reject_bad_lines(spark):
    raws = [
        "TRMMMYQ128F932D901<SEP>SOQMMHC12AB0180CB8<SEP>Faster Pussy cat<SEP>Silent Night",
        "TRMMMKD128F425225D<SEP>SOVFVAK12A8C1350D9<SEP>Karkkiautomaatti<SEP>Tanssi <vaan> é",
        "TRMMMRX128F93187D9<SEP>SOGTUKN12AB017F4F1<SEP><SEP>",
        "TRMMMCH128F425532C<SEP>SOBONKR12A58A7A7E0<SEP>only three",
        "<SEP>SOBONKR12A58A7A7E0<SEP>a<SEP>b",
        "TRA<SEP>SOB<SEP>a<SEP>b<SEP>c",
        "",
    ]
    parsed = parse_tracks(lines_df(spark, "tracks", raws))
    assert reasons(parsed) == [
        None,
        None,
        None,
        "wrong_field_count",
        "empty_id",
        "wrong_field_count",
        "empty_line",
    ]
    row = parsed.filter(F.col(S.TRACK_ID) == "TRMMMKD128F425225D").first()
    assert (row[S.ARTIST], row[S.TITLE]) == ("Karkkiautomaatti", "Tanssi <vaan> é")


def test_mismatch_lines(spark):
    raws = [
        "ERROR: <SOUMNSI12AB0182807 TRMMGKQ128F9325E10> Digital Underground  -  The Way We "
        "Swing  !=  Linkin Park  -  Runaway",
        "ERROR <SOUMNSI12AB0182807 TRMMGKQ128F9325E10>",
        "",
    ]
    parsed = parse_mismatches(lines_df(spark, "mismatches", raws))
    assert reasons(parsed) == [None, "unparseable_mismatch", "empty_line"]
    first = parsed.orderBy("_mid").first()
    assert (first[S.SONG_ID], first[S.TRACK_ID]) == ("SOUMNSI12AB0182807", "TRMMGKQ128F9325E10")


def test_lyrics_lines_and_vocabulary(spark):
    raws = [
        "# comment",
        "%i,the,you,love",
        "TRAAAAV128F421A322,4623710,1:6,2:4,4:2",
        "TRAAABD128F429CF47,6477168,3:1",
        "TRAAAED128E0783FAB,2490,1:x",
        "TRAAAEF128F4273421,2491,7",
        "TRAAAEF128F4273422,2492,5:1",
        "TRAAAEF128F4273423,2493,0:1",
        "TRAAAEF128F4273424,2494,1:0",
        "TRAAAEF128F4273425",
        "TRAAAEF128F4273426,notanumber,1:1",
        ",2495,1:1",
    ]
    lines = lines_df(spark, "lyrics", raws)
    vocab = parse_vocabulary(lines)
    assert sorted(tuple(r) for r in vocab.collect()) == [
        (1, "i"),
        (2, "the"),
        (3, "you"),
        (4, "love"),
    ]
    parsed = parse_lyrics(lines, vocab_size=4)
    assert reasons(parsed) == [
        None,
        None,
        "bad_word_count",
        "bad_word_count",
        "word_index_out_of_range",
        "word_index_out_of_range",
        "bad_word_count",
        "wrong_field_count",
        "bad_mxm_id",
        "empty_id",
    ]
    first = parsed.orderBy("_mid").first()
    assert (first[S.WORD_IDX], first[S.WORD_COUNT]) == ([1, 2, 4], [6, 4, 2])


@pytest.mark.parametrize("n_partitions", [1, 3])
def test_dense_index_is_contiguous_and_sorted(spark, n_partitions):
    ids = spark.createDataFrame([(f"id{i:03d}",) for i in range(50)] * 2, "user_id string")
    mapping = dense_index(ids.repartition(n_partitions), "user_id", "user_idx")
    rows = sorted((r["user_idx"], r["user_id"]) for r in mapping.collect())
    assert rows == [(i, f"id{i:03d}") for i in range(50)]


def test_line_numbers_follow_the_file(spark, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("".join(f"line{i}\n" for i in range(1, 2001)))
    spark.conf.set("spark.sql.files.maxPartitionBytes", "4000")
    try:
        lines = read_lines(spark, [str(path)], "triplets")
        assert lines.rdd.getNumPartitions() > 2
        numbered = with_line_numbers(lines, lines.filter(F.col("raw").endswith("7")))
        got = [(r["line"], r["raw"]) for r in numbered.collect()]
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert len(got) == 200
    assert all(raw == f"line{line}" for line, raw in got)


def test_bad_id_search_agrees_with_the_whole_id_match(spark):
    """``_bad_id`` searches for one bad character instead of matching the whole id against
    the negated class (4x faster on the triplets): the same answer for every ASCII character
    and for the non-ASCII ones that are spaces or line breaks elsewhere, at each position, and
    for the empty id."""
    from recsys.inputs.parsers import _bad_id

    chars = [chr(c) for c in range(128)] + ["\x85", "\xa0", "\u2028", "\u2029", "\u3000", "\ufffd"]
    ids = [""] + [s for c in chars for s in (c, f"ab{c}", f"{c}ab", f"a{c}b", f"a{c}{c}b")]
    df = spark.createDataFrame([(i,) for i in ids], "id string")
    whole_id = ~F.col("id").rlike(r"^[^\s\x00-\x1f\x7f,]+\z")  # the rule as it was written
    rows = df.select("id", _bad_id(F.col("id")).alias("new"), whole_id.alias("old")).collect()
    assert len(rows) == len(ids)
    differ = [(r["id"], r["new"], r["old"]) for r in rows if r["new"] != r["old"]]
    assert differ == []
    bad = {r["id"] for r in rows if r["new"]}
    assert {"", "a b", "a,b", "a\tb", "a\x7fb", "a\x00b"} <= bad
    assert not {"a\xa0b", "a\u2028b", "ab"} & bad
