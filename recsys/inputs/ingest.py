"""Ingest: raw Taste Profile / MSD / musiXmatch files -> clean tables, quarantine, report.

Every raw line ends in exactly one place: a clean table, the quarantine (with file, line
number, raw text and reason), or a counted comment/header line. Parsers are pure functions
from a DataFrame of lines to a DataFrame with the parsed fields and a ``reason`` column that is
null for good rows; :func:`run` wires them to storage.

Whole-file problems end the run at once with an :class:`InputError` that names the file,
before any table is written: a missing or empty (0-byte) triplets file, a compressed file whose
name does not say so (a gzip'd ``train_triplets.txt``: Hadoop decompresses only by extension,
so its bytes would otherwise be parsed as binary lines), a ``.gz`` file that is not gzip, a
compressed file cut short (found while reading), lyrics without their ``%`` word list. We fail
rather than quarantine these: every line of such a file would be garbage, and the fix (rename,
decompress, re-download) is the operator's. Line-level problems go to the quarantine; after
writing, the job checks that every line of every input is accounted for (clean, quarantined or
a counted lyrics header line) and fails loudly if not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from py4j.protocol import Py4JJavaError
from pyspark import StorageLevel
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import InputError

if TYPE_CHECKING:
    pass

TRIPLETS, TRACKS, MISMATCHES, LYRICS = "triplets", "tracks", "mismatches", "lyrics"
LINE_COLS = ["input", "source", "_block", "_mid", "raw"]
INT_MAX = 2**31 - 1


# The first bytes of compressed formats a raw input might arrive in by mistake. bzip2's
# header includes its block magic so that a text line starting with "BZh" is not mistaken.
COMPRESSED_MAGIC: dict[str, re.Pattern[bytes]] = {
    "gzip": re.compile(rb"^\x1f\x8b"),
    "bzip2": re.compile(rb"^BZh[1-9]1AY&SY"),
    "zip": re.compile(rb"^PK\x03\x04"),
    "zstd": re.compile(rb"^\x28\xb5\x2f\xfd"),
    "xz": re.compile(rb"^\xfd7zXZ\x00"),
}
HEAD_BYTES = 10
# Hadoop codec class -> the format its files must start with.
CODEC_FORMATS = {"GzipCodec": "gzip", "BZip2Codec": "bzip2", "ZStandardCodec": "zstd"}


# ----------------------------------------------------------------------------- reading


def find_inputs(spark: SparkSession, directory: str, pattern: str) -> list[str]:
    """Files matching ``directory/pattern`` or its ``.gz`` twin, through Hadoop's FileSystem
    (so local folders, ``s3://`` on EMR and ``s3a://`` all work)."""
    jvm = spark.sparkContext._jvm
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    base = directory.rstrip("/") + "/" + pattern
    found: list[str] = []
    for candidate in (base, base + ".gz"):
        path = jvm.org.apache.hadoop.fs.Path(candidate)
        statuses = path.getFileSystem(hconf).globStatus(path)
        for status in statuses or []:
            if status.isFile():
                found.append(status.getPath().toString())
    return sorted(set(found))


@dataclass(frozen=True)
class FileHead:
    """What the driver learns of one raw file before Spark reads it: O(files), not O(data)."""

    path: str
    size: int
    codec: str | None  # the format Hadoop will decompress it as (by its name), or None
    head: bytes  # its first HEAD_BYTES bytes, as stored (still compressed)


def compressed_format(head: bytes) -> str | None:
    """The compressed format ``head`` (a file's first bytes) starts with, if any."""
    for name, magic in COMPRESSED_MAGIC.items():
        if magic.match(head):
            return name
    return None


def check_file(input_name: str, file: FileHead) -> str | None:
    """Why a raw file cannot be read as it is named, or None when it can.

    A compressed file must be named so that Hadoop decompresses it (``.gz``, ``.bz2``...);
    a file so named must hold that format. Empty files are fine here (see :func:`run`).
    """
    if file.size == 0:
        return None
    found = compressed_format(file.head)
    if file.codec is None and found is not None:
        suffix = {"gzip": ".gz", "bzip2": ".bz2", "zstd": ".zst"}.get(found)
        fix = (
            f"rename it to end in {suffix} (read transparently) or decompress it"
            if suffix
            else "extract it"
        )
        return (
            f"{input_name}: {file.path} is {found}-compressed, but its name does not say so, "
            f"so it would be read as binary lines: {fix}"
        )
    if file.codec is not None and found != file.codec:
        return (
            f"{input_name}: {file.path} is named as {file.codec} but does not hold {file.codec} "
            f"data (it starts with {file.head[:8]!r}): rename or re-compress it"
        )
    return None


def file_heads(spark: SparkSession, paths: list[str]) -> list[FileHead]:
    """Size, codec and first bytes of each file through Hadoop's FileSystem (driver side)."""
    jvm = spark.sparkContext._jvm
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(hconf)
    heads = []
    for path in paths:
        hpath = jvm.org.apache.hadoop.fs.Path(path)
        fs = hpath.getFileSystem(hconf)
        size = int(fs.getFileStatus(hpath).getLen())
        codec = codecs.getCodec(hpath)
        codec_name = None
        if codec is not None:
            cls = codec.getClass().getSimpleName()
            codec_name = CODEC_FORMATS.get(cls, cls)
        head = bytearray()
        if size:
            stream = fs.open(hpath)
            try:
                while len(head) < min(size, HEAD_BYTES):
                    byte = stream.read()
                    if byte < 0:
                        break
                    head.append(byte)
            finally:
                stream.close()
        heads.append(FileHead(path, size, codec_name, bytes(head)))
    return heads


_READ_ERROR = re.compile(r"Encountered error while reading file (\S+?)\.? Details")
_CAUSE = re.compile(r"Caused by: ([^\n]+)")
# Causes that mean a file's bytes could not be read (truncated or corrupt compressed data).
_IO_CAUSE = re.compile(r"EOFException|ZipException|IOException|not a gzip file|CRC", re.I)


def read_failure(
    exc: BaseException, files: dict[str, list[str]], culprit: str | None = None
) -> InputError | None:
    """An :class:`InputError` naming the input and file when ``exc`` is Spark failing to read
    a raw file (a truncated or corrupt compressed file), else None.

    Spark names the file in some failures ("Encountered error while reading file ..."); for
    the others (a gzip stream cut short raises a bare ``EOFException``) pass the ``culprit``
    found by :func:`find_unreadable`.
    """
    text = str(exc)
    causes = _CAUSE.findall(text)
    cause = causes[-1].strip() if causes else text.strip().splitlines()[0]
    found = _READ_ERROR.search(text)
    bad = found.group(1) if found else culprit
    if bad is None:
        return None
    name = next(
        (n for n, paths in files.items() for p in paths if _local_part(p) == _local_part(bad)),
        "input",
    )
    return InputError(
        f"{name}: {bad} could not be read ({cause}); is it a truncated or corrupt "
        "compressed file? Replace it and run again"
    )


def find_unreadable(
    spark: SparkSession, exc: BaseException, files: dict[str, list[str]]
) -> str | None:
    """After an I/O failure that names no file, read each compressed input alone to find the
    one that fails (only on the failure path; compressed files are one task each)."""
    if not _IO_CAUSE.search(str(exc)):
        return None
    jvm = spark.sparkContext._jvm
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
        spark.sparkContext._jsc.hadoopConfiguration()
    )
    for paths in files.values():
        for path in paths:
            if codecs.getCodec(jvm.org.apache.hadoop.fs.Path(path)) is None:
                continue
            try:
                spark.read.text(path).count()
            except (Py4JJavaError, CapturedException):
                return path
    return None


def _local_part(path: str) -> str:
    return re.sub(r"^[a-z0-9]+:/*", "/", path)


def read_lines(spark: SparkSession, paths: list[str], input_name: str) -> DataFrame:
    """Raw lines with their file (``source``), split start and position, for line numbers."""
    if not paths:
        schema = T.StructType(
            [
                T.StructField("input", T.StringType()),
                T.StructField("source", T.StringType()),
                T.StructField("_block", T.LongType()),
                T.StructField("_mid", T.LongType()),
                T.StructField("raw", T.StringType()),
            ]
        )
        return spark.createDataFrame([], schema)
    return spark.read.text(paths).select(
        F.lit(input_name).alias("input"),
        F.col("_metadata.file_path").alias("source"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_mid"),
        F.col("value").alias("raw"),
    )


def with_line_numbers(lines: DataFrame, rows: DataFrame) -> DataFrame:
    """Attach 1-based line numbers to ``rows`` (a subset of ``lines``).

    Within one file split the ids from ``monotonically_increasing_id`` are consecutive, so a
    row's line is the number of lines in earlier splits of its file plus its offset in its
    split. Only a split-sized table is aggregated and broadcast.
    """
    blocks = lines.groupBy("source", "_block").agg(
        F.count(F.lit(1)).alias("_n"), F.min("_mid").alias("_first")
    )
    earlier = (
        Window.partitionBy("source").orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)
    )
    blocks = blocks.withColumn("_before", F.coalesce(F.sum("_n").over(earlier), F.lit(0)))
    return (
        rows.join(F.broadcast(blocks.drop("_n")), ["source", "_block"])
        .withColumn("line", (F.col("_before") + F.col("_mid") - F.col("_first") + 1).cast("long"))
        .drop("_before", "_first")
    )


def _bad_encoding(raw: Column) -> Column:
    # Invalid UTF-8 becomes U+FFFD when the bytes are decoded by the JVM.
    return F.instr(F.decode(F.encode(raw, "UTF-8"), "UTF-8"), "\ufffd") > 0


def _clean_text(raw: Column) -> Column:
    """The line as valid UTF-8 (invalid bytes replaced), safe to store."""
    return F.decode(F.encode(raw, "UTF-8"), "UTF-8")


# Patterns end in \z, not $: Java's $ also matches before a final line terminator, and
# U+0085, U+2028 and U+2029 are line terminators to Java but stay inside a Hadoop text line,
# so "1:2\u2028" passed a $-anchored check and left a null count in a clean lyrics row.


def _bad_id(col: Column) -> Column:
    return ~col.rlike(r"^[^\s\x00-\x1f\x7f,]+\z")


def _sources(lines: DataFrame, limit: int = 5) -> str:
    """The files ``lines`` come from (at most ``limit``), for messages."""
    found = sorted(r["source"] for r in lines.select("source").distinct().limit(limit).collect())
    return ", ".join(found) or "(no file)"


# ----------------------------------------------------------------------------- parsers


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


def quarantine_rows(parsed: DataFrame, reason: Column | None = None) -> DataFrame:
    """Rows of ``parsed`` with a reason, in the quarantine's columns (line still unset)."""
    reason = F.col("reason") if reason is None else reason
    category = F.when(reason.isin(*S.FILTERED_REASONS), S.FILTERED).otherwise(S.MALFORMED)
    return parsed.select(
        "input",
        "source",
        "_block",
        "_mid",
        _clean_text(F.col("raw")).alias("raw"),
        reason.alias("reason"),
        category.alias("category"),
    )


# ----------------------------------------------------------------------------- ids and tables


def dense_index(ids: DataFrame, id_col: str, idx_col: str) -> DataFrame:
    """Map distinct string ids to 0..n-1 in sorted order, without a single-partition window.

    Sorting range-partitions the ids; each partition's offset is the size of the partitions
    before it (a partition-count table, tiny), so the numbering is contiguous and stable.
    The sorted ids are persisted so both passes see the same partitions.
    """
    ordered = (
        ids.select(id_col)
        .distinct()
        .orderBy(id_col)
        .select(
            id_col,
            F.spark_partition_id().alias("_pid"),
            F.monotonically_increasing_id().alias("_mid"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    # One row per partition comes to the driver (O(partitions), not O(data)).
    sizes = ordered.groupBy("_pid").agg(F.count(F.lit(1)).alias("n"), F.min("_mid").alias("first"))
    offsets, before = [], 0
    for row in sorted(sizes.collect(), key=lambda r: r["_pid"]):
        offsets.append((row["_pid"], before - row["first"]))
        before += row["n"]
    parts = ids.sparkSession.createDataFrame(offsets, "_pid int, _shift long")
    return ordered.join(F.broadcast(parts), "_pid").select(
        (F.col("_mid") + F.col("_shift")).cast("int").alias(idx_col), id_col
    )


@dataclass
class IngestResult:
    """The clean tables and audit outputs of one ingest, before they are written."""

    interactions: DataFrame
    users: DataFrame
    songs: DataFrame
    lyrics: DataFrame
    vocabulary: DataFrame
    quarantine: DataFrame
    counts: dict[str, Any]


def build_tables(
    spark: SparkSession,
    lines: dict[str, DataFrame],
    max_play_count: int,
) -> IngestResult:
    """Parse the raw lines of each input into the clean tables and the quarantine."""
    level = StorageLevel.MEMORY_AND_DISK
    triplets = parse_triplets(lines[TRIPLETS], max_play_count).persist(level)
    tracks = parse_tracks(lines[TRACKS]).persist(level)
    mismatches = parse_mismatches(lines[MISMATCHES]).persist(level)
    vocabulary = parse_vocabulary(lines[LYRICS]).persist(level)
    vocab_size = vocabulary.count()
    if vocab_size and vocabulary.select(S.WORD_IDX).distinct().count() != vocab_size:
        raise InputError(
            "lyrics: the '%' word-list lines of the lyrics files disagree: "
            + _sources(lines[LYRICS].filter(F.col("raw").startswith("%")))
        )
    lyric_data = lines[LYRICS].filter(~F.col("raw").startswith("#"))
    if not vocab_size and lyric_data.take(1):
        raise InputError(
            "lyrics: no '%' word-list line found, so the word indexes of the data lines cannot "
            f"be read, in {_sources(lyric_data)}; the musiXmatch file must keep its '%' line"
        )
    lyric_lines = parse_lyrics(lines[LYRICS], vocab_size).persist(level)

    bad_songs = mismatches.filter(F.col("reason").isNull()).select(S.SONG_ID).distinct()
    bad_songs = F.broadcast(bad_songs.withColumn("_mismatched", F.lit(True)))

    def mark_mismatched(parsed: DataFrame) -> DataFrame:
        joined = parsed.join(bad_songs, S.SONG_ID, "left")
        return joined.withColumn(
            "reason",
            F.when(
                F.col("reason").isNull() & F.col("_mismatched").isNotNull(),
                F.lit("song_in_mismatch_list"),
            ).otherwise(F.col("reason")),
        ).drop("_mismatched")

    triplets_marked = mark_mismatched(triplets)
    tracks_marked = mark_mismatched(tracks)

    rejected = [
        quarantine_rows(triplets_marked.filter(F.col("reason").isNotNull())),
        quarantine_rows(tracks_marked.filter(F.col("reason").isNotNull())),
        quarantine_rows(mismatches.filter(F.col("reason").isNotNull())),
        quarantine_rows(lyric_lines.filter(F.col("reason").isNotNull())),
    ]
    all_lines = lines[TRIPLETS]
    for name in (TRACKS, MISMATCHES, LYRICS):
        all_lines = all_lines.unionByName(lines[name])
    quarantine = rejected[0]
    for part in rejected[1:]:
        quarantine = quarantine.unionByName(part)
    quarantine = with_line_numbers(all_lines, quarantine).select(
        *[f.name for f in S.QUARANTINE_SCHEMA.fields]
    )

    # ---- interactions: aggregate duplicate (user, song) lines
    good_triplets = triplets_marked.filter(F.col("reason").isNull())
    pairs = (
        good_triplets.groupBy(S.USER_ID, S.SONG_ID)
        .agg(F.sum(S.PLAYS).alias(S.PLAYS), F.count(F.lit(1)).alias("_lines"))
        .persist(level)
    )

    # ---- catalogue: songs from the track list plus played songs missing from it
    good_tracks = tracks_marked.filter(F.col("reason").isNull())
    good_lyrics = lyric_lines.filter(F.col("reason").isNull())
    lyric_tracks = good_lyrics.groupBy(S.TRACK_ID).agg(
        F.first(S.WORD_IDX).alias(S.WORD_IDX), F.first(S.WORD_COUNT).alias(S.WORD_COUNT)
    )
    tracks_with_lyrics = good_tracks.join(
        lyric_tracks.select(S.TRACK_ID, F.lit(True).alias("_has_lyrics")), S.TRACK_ID, "left"
    ).withColumn("_has_lyrics", F.coalesce("_has_lyrics", F.lit(False)))
    # canonical track: one with lyrics first, then the smallest track id
    per_song = tracks_with_lyrics.groupBy(S.SONG_ID).agg(
        F.min(
            F.struct(
                (~F.col("_has_lyrics")).alias("_no_lyrics"),
                F.col(S.TRACK_ID),
                F.col(S.ARTIST),
                F.col(S.TITLE),
                F.col("_has_lyrics"),
            )
        ).alias("_t"),
        F.countDistinct(S.TRACK_ID).alias("n_tracks"),
    )
    per_song = per_song.select(
        S.SONG_ID,
        F.col("_t").getField(S.TRACK_ID).alias(S.TRACK_ID),
        F.col("_t").getField(S.ARTIST).alias(S.ARTIST),
        F.col("_t").getField(S.TITLE).alias(S.TITLE),
        F.col("n_tracks").cast("int").alias("n_tracks"),
        F.col("_t").getField("_has_lyrics").alias("has_lyrics"),
    )
    song_stats = pairs.groupBy(S.SONG_ID).agg(
        F.count(F.lit(1)).cast("int").alias("n_listeners"),
        F.sum(S.PLAYS).cast("long").alias("n_plays"),
    )
    catalogue = per_song.join(song_stats, S.SONG_ID, "full_outer").select(
        S.SONG_ID,
        S.TRACK_ID,
        S.ARTIST,
        S.TITLE,
        F.coalesce("n_tracks", F.lit(0)).cast("int").alias("n_tracks"),
        F.coalesce("has_lyrics", F.lit(False)).alias("has_lyrics"),
        F.coalesce("n_listeners", F.lit(0)).cast("int").alias("n_listeners"),
        F.coalesce("n_plays", F.lit(0)).cast("long").alias("n_plays"),
    )
    song_ids = dense_index(catalogue, S.SONG_ID, S.SONG).persist(level)
    user_ids = dense_index(pairs, S.USER_ID, S.USER).persist(level)

    songs = catalogue.join(song_ids, S.SONG_ID).select(*[f.name for f in S.SONGS_SCHEMA.fields])
    interactions = (
        pairs.join(user_ids, S.USER_ID)
        .join(song_ids, S.SONG_ID)
        .select(
            F.col(S.USER),
            F.col(S.SONG),
            F.least(F.col(S.PLAYS), F.lit(INT_MAX)).cast("int").alias(S.PLAYS),
        )
    )
    users = (
        pairs.groupBy(S.USER_ID)
        .agg(
            F.count(F.lit(1)).cast("int").alias("n_songs"),
            F.sum(S.PLAYS).cast("long").alias("n_plays"),
        )
        .join(user_ids, S.USER_ID)
        .select(*[f.name for f in S.USERS_SCHEMA.fields])
    )
    lyrics = (
        songs.filter("has_lyrics")
        .select(S.SONG, S.TRACK_ID)
        .join(lyric_tracks, S.TRACK_ID)
        .select(*[f.name for f in S.LYRICS_SCHEMA.fields])
    )

    counts = _count(lines, triplets_marked, tracks_marked, mismatches, lyric_lines, pairs)
    counts["vocabulary"] = vocab_size
    # mismatch-list songs that match nothing (no triplet, no track): valid lines, but worth
    # seeing; the join is on the small mismatch list and the few rows it filtered
    hit_songs = (
        triplets_marked.filter(F.col("reason") == "song_in_mismatch_list")
        .select(S.SONG_ID)
        .unionByName(
            tracks_marked.filter(F.col("reason") == "song_in_mismatch_list").select(S.SONG_ID)
        )
        .distinct()
    )
    listed = bad_songs.select(S.SONG_ID)
    counts["mismatch_song_ids"] = listed.count()
    counts["mismatch_song_ids_unmatched"] = listed.join(hit_songs, S.SONG_ID, "left_anti").count()
    counts["lyrics_tracks_without_song"] = good_lyrics.join(
        good_tracks.select(S.TRACK_ID), S.TRACK_ID, "left_anti"
    ).count()
    return IngestResult(interactions, users, songs, lyrics, vocabulary, quarantine, counts)


def _count(
    lines: dict[str, DataFrame],
    triplets: DataFrame,
    tracks: DataFrame,
    mismatches: DataFrame,
    lyric_lines: DataFrame,
    pairs: DataFrame,
) -> dict[str, Any]:
    """Per-input line counts by outcome: a few small aggregates brought to the driver."""
    by_reason = (
        triplets.select("input", "reason")
        .unionByName(tracks.select("input", "reason"))
        .unionByName(mismatches.select("input", "reason"))
        .unionByName(lyric_lines.select("input", "reason"))
        .groupBy("input", "reason")
        .count()
        .collect()
    )
    line_totals = {
        name: df.agg(
            F.count(F.lit(1)).alias("n"),
            F.countDistinct("source").alias("f"),
            F.count(F.when(F.col("raw").startswith("#"), 1)).alias("comment"),
            F.count(F.when(F.col("raw").startswith("%"), 1)).alias("wordlist"),
        ).first()
        for name, df in lines.items()
    }
    inputs: dict[str, Any] = {}
    for name, total in line_totals.items():
        inputs[name] = {
            "files": int(total["f"]),
            "lines": int(total["n"]),
            "clean_lines": 0,
            "quarantined": {},
        }
        if name == LYRICS:
            inputs[name]["comment_lines"] = int(total["comment"])
            inputs[name]["wordlist_lines"] = int(total["wordlist"])
    for row in by_reason:
        entry = inputs[row["input"]]
        if row["reason"] is None:
            entry["clean_lines"] += int(row["count"])
        else:
            entry["quarantined"][row["reason"]] = int(row["count"])
    lyr = inputs[LYRICS]
    lyr["header_lines"] = lyr["comment_lines"] + lyr["wordlist_lines"]
    for entry in inputs.values():
        entry["unaccounted_lines"] = (
            entry["lines"]
            - entry["clean_lines"]
            - sum(entry["quarantined"].values())
            - entry.get("header_lines", 0)
        )
    pair_stats = pairs.agg(
        F.count(F.lit(1)).alias("pairs"),
        F.coalesce(F.sum(F.col("_lines") - 1), F.lit(0)).alias("dups"),
        F.coalesce(F.sum(S.PLAYS), F.lit(0)).alias("plays"),
    ).first()
    return {
        "inputs": inputs,
        "duplicate_triplet_lines": int(pair_stats["dups"]),
        "total_plays": int(pair_stats["plays"]),
    }


# ----------------------------------------------------------------------------- job


def quality_report(
    counts: dict[str, Any],
    tables: dict[str, int],
    songs_stats: dict[str, int],
    missing: list[str],
    max_bad_fraction: float,
) -> dict[str, Any]:
    """The quality report document, with the gate's verdict per input."""
    failures = []
    for name, entry in counts["inputs"].items():
        malformed = {r: n for r, n in entry["quarantined"].items() if r not in S.FILTERED_REASONS}
        entry["malformed_lines"] = sum(malformed.values())
        entry["bad_fraction"] = entry["malformed_lines"] / entry["lines"] if entry["lines"] else 0.0
        if entry["bad_fraction"] > max_bad_fraction:
            top = ", ".join(f"{r}={n}" for r, n in sorted(malformed.items(), key=lambda x: -x[1]))
            failures.append(
                f"{name}: {entry['bad_fraction']:.2%} of {entry['lines']} lines are malformed "
                f"(limit {max_bad_fraction:.2%}): {top}"
            )
    return {
        **counts,
        "tables": tables,
        **songs_stats,
        "missing_inputs": missing,
        "max_bad_fraction": max_bad_fraction,
        "gate_failures": failures,
        "passed": not failures,
    }


def check_inputs(spark: SparkSession, files: dict[str, list[str]]) -> list[str]:
    """Refuse whole files that cannot be read as named; return the empty (0-byte) files.

    Raises
    ------
    InputError
        Naming the file: compressed but not named so (or named so but not compressed), or
        every triplets file empty.
    """
    empty: list[str] = []
    problems: list[str] = []
    for name, paths in files.items():
        heads = file_heads(spark, paths)
        empty += [h.path for h in heads if h.size == 0]
        problems += [msg for h in heads if (msg := check_file(name, h)) is not None]
        if name == TRIPLETS and heads and all(h.size == 0 for h in heads):
            problems.append(
                f"triplets: {', '.join(paths)} {'is' if len(paths) == 1 else 'are'} empty "
                "(0 bytes): nothing to ingest"
            )
    if problems:
        raise InputError(" | ".join(problems))
    return empty


def _first_bad_line(quarantine: DataFrame, input_name: str) -> str:
    """``file:line: raw`` of the first malformed line of an input, for messages."""
    row = (
        quarantine.filter((F.col("input") == input_name) & (F.col("category") == S.MALFORMED))
        .select("source", "line", "raw", "reason")
        .orderBy("source", "line")
        .first()
    )
    if row is None:
        return ""
    text = row["raw"] if len(row["raw"]) <= 120 else row["raw"][:117] + "..."
    return f"; first: {row['source']}:{row['line']} ({row['reason']}): {text!r}" + _hint(
        input_name, row["reason"], row["raw"]
    )


def _hint(input_name: str, reason: str, raw: str) -> str:
    """A likely cause of a wrong field count, from the line itself."""
    if reason != "wrong_field_count":
        return ""
    if input_name == TRIPLETS and "\t" not in raw:
        kind = "comma" if "," in raw else "space" if " " in raw else None
        if kind:
            return f" (no tab in the line: the file looks {kind}-separated; fields must be tabs)"
    if input_name == TRACKS and "<SEP>" not in raw:
        return " (no <SEP> in the line: fields must be separated by the string <SEP>)"
    return ""
