"""The four raw-format parsers: a DataFrame of lines -> parsed fields and a ``reason``.

Each parser is a pure function of the lines (see :mod:`recsys.inputs.lines`); ``reason`` is
null for a good row and otherwise one of :data:`recsys.names.MALFORMED_REASONS`.
:func:`quarantine_rows` turns rows with a reason into quarantine rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.inputs.lines import LINE_COLS

INT_MAX = 2**31 - 1


def _bad_encoding(raw: Column) -> Column:
    # Invalid UTF-8 becomes U+FFFD when the bytes are decoded by the JVM.
    return F.instr(F.decode(F.encode(raw, "UTF-8"), "UTF-8"), "\ufffd") > 0


def _clean_text(raw: Column) -> Column:
    """The line as valid UTF-8 (invalid bytes replaced), safe to store."""
    return F.decode(F.encode(raw, "UTF-8"), "UTF-8")


# Patterns end in \z, not $: Java's $ also matches before a final line terminator, and
# U+0085, U+2028 and U+2029 are line terminators to Java but stay inside a Hadoop text line,
# so "1:2\u2028" passed a $-anchored check and left a null count in a clean lyrics row.


# An id holds no whitespace (Java's \s is ASCII: space, \t, \n, \x0b, \f, \r), control
# character, DEL or comma. Searched for as the one bad character (a class of a range and two
# characters), not matched as a whole id against the negated class: the same answer for every
# string (tests/unit/test_ingest_parsers.py), and the two ids of 2M triplet lines take 0.9 s
# instead of 4.1 s (the whole-id match was most of the triplets' parse: 5.7 -> 1.4 s).
_BAD_ID_CHAR = r"[\x00-\x20,\x7f]"


def _bad_id(col: Column) -> Column:
    return (col == "") | col.rlike(_BAD_ID_CHAR)


def parse_triplets(lines: DataFrame, max_play_count: int) -> DataFrame:
    """``user<TAB>song<TAB>plays`` -> user_id, song_id, plays, reason."""
    parts = F.split(F.col("raw"), "\t")
    user, song, plays_text = parts.getItem(0), parts.getItem(1), F.trim(parts.getItem(2))
    plays = plays_text.cast("long")
    reason = (
        F.when(_bad_encoding(F.col("raw")), "bad_encoding")
        .when(F.trim(F.col("raw")) == "", "empty_line")
        .when(F.size(parts) != 3, "wrong_field_count")
        .when((user == "") | (song == ""), "empty_id")
        .when(_bad_id(user) | _bad_id(song), "bad_id")
        .when(~plays_text.rlike(r"^[+-]?[0-9]+\z"), "bad_play_count")
        .when(plays.isNull() | (plays <= 0) | (plays > max_play_count), "play_count_out_of_range")
    )
    return lines.select(
        *LINE_COLS,
        user.alias(S.USER_ID),
        song.alias(S.SONG_ID),
        plays.cast("int").alias(S.PLAYS),
        reason.alias("reason"),
    )


def parse_tracks(lines: DataFrame) -> DataFrame:
    """``track<SEP>song<SEP>artist<SEP>title`` -> track_id, song_id, artist, title, reason."""
    parts = F.split(F.col("raw"), "<SEP>")
    track, song = parts.getItem(0), parts.getItem(1)
    reason = (
        F.when(_bad_encoding(F.col("raw")), "bad_encoding")
        .when(F.trim(F.col("raw")) == "", "empty_line")
        .when(F.size(parts) != 4, "wrong_field_count")
        .when((track == "") | (song == ""), "empty_id")
        .when(_bad_id(track) | _bad_id(song), "bad_id")
    )
    return lines.select(
        *LINE_COLS,
        track.alias(S.TRACK_ID),
        song.alias(S.SONG_ID),
        parts.getItem(2).alias(S.ARTIST),
        parts.getItem(3).alias(S.TITLE),
        reason.alias("reason"),
    )


MISMATCH_PATTERN = r"^ERROR: <([^\s<>]+) ([^\s<>]+)>"


def parse_mismatches(lines: DataFrame) -> DataFrame:
    """``ERROR: <SONG TRACK> ...`` -> song_id, track_id, reason."""
    song = F.regexp_extract("raw", MISMATCH_PATTERN, 1)
    track = F.regexp_extract("raw", MISMATCH_PATTERN, 2)
    reason = (
        F.when(_bad_encoding(F.col("raw")), "bad_encoding")
        .when(F.trim(F.col("raw")) == "", "empty_line")
        .when(song == "", "unparseable_mismatch")
    )
    return lines.select(
        *LINE_COLS, song.alias(S.SONG_ID), track.alias(S.TRACK_ID), reason.alias("reason")
    )


def parse_vocabulary(lines: DataFrame) -> DataFrame:
    """The ``%word,word,...`` line(s) -> (word_idx starting at 1, word)."""
    words = lines.filter(F.col("raw").startswith("%")).select(
        F.posexplode(F.split(F.expr("substring(raw, 2)"), ",")).alias("pos", S.WORD)
    )
    return words.select(
        (F.col("pos") + 1).cast("int").alias(S.WORD_IDX), F.col(S.WORD)
    ).dropDuplicates([S.WORD_IDX, S.WORD])


def parse_lyrics(lines: DataFrame, vocab_size: int) -> DataFrame:
    """``track,mxm_id,idx:cnt,...`` data lines -> track_id, word_idx[], word_count[], reason.

    ``#`` comments and the ``%`` word-list line are not data; the caller counts them.
    """
    data = lines.filter(~F.col("raw").startswith("#") & ~F.col("raw").startswith("%"))
    parts = F.split(F.col("raw"), ",")
    pairs = F.slice(parts, 3, INT_MAX)
    track, mxm = parts.getItem(0), parts.getItem(1)
    idx = F.transform(pairs, lambda p: F.split(p, ":").getItem(0).cast("int"))
    cnt = F.transform(pairs, lambda p: F.split(p, ":").getItem(1).cast("int"))
    reason = (
        F.when(_bad_encoding(F.col("raw")), "bad_encoding")
        .when(F.trim(F.col("raw")) == "", "empty_line")
        .when(F.size(parts) < 2, "wrong_field_count")
        .when(track == "", "empty_id")
        .when(_bad_id(track), "bad_id")
        .when(~F.trim(mxm).rlike(r"^[0-9]+\z"), "bad_mxm_id")
        .when(~F.forall(pairs, lambda p: p.rlike(r"^[0-9]{1,9}:[0-9]{1,9}\z")), "bad_word_count")
        .when(F.exists(cnt, lambda c: c < 1), "bad_word_count")
        .when(F.exists(idx, lambda i: (i < 1) | (i > vocab_size)), "word_index_out_of_range")
    )
    return data.select(
        *LINE_COLS,
        track.alias(S.TRACK_ID),
        idx.alias(S.WORD_IDX),
        cnt.alias(S.WORD_COUNT),
        reason.alias("reason"),
    )


def quarantine_rows(parsed: DataFrame) -> DataFrame:
    """Rows of ``parsed`` with a reason, in the quarantine's columns (line still unset)."""
    reason = F.col("reason")
    category = F.when(reason.isin(*S.FILTERED_REASONS), S.FILTERED).otherwise(S.MALFORMED)
    return parsed.filter(reason.isNotNull()).select(
        "input",
        "source",
        "_block",
        "_mid",
        _clean_text(F.col("raw")).alias("raw"),
        reason.alias("reason"),
        category.alias("category"),
    )
