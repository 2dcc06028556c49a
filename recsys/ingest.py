"""Ingest: raw Taste Profile / MSD / musiXmatch files -> clean tables, quarantine, report.

Every raw line ends in exactly one place: a clean table, the quarantine (with file, line
number, raw text and reason), or a counted comment/header line. Parsers are pure functions
from a DataFrame of lines to a DataFrame with the parsed fields and a ``reason`` column that is
null for good rows; :func:`run` wires them to storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.runner import JobFailed
from recsys.warehouse import Warehouse

if TYPE_CHECKING:
    from recsys.config import Config

TRIPLETS, TRACKS, MISMATCHES, LYRICS = "triplets", "tracks", "mismatches", "lyrics"
LINE_COLS = ["input", "source", "_block", "_mid", "raw"]
INT_MAX = 2**31 - 1


class InputError(JobFailed):
    """A raw input is missing or unusable as a whole; the message names it."""


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


def _bad_id(col: Column) -> Column:
    return ~col.rlike(r"^[^\s\x00-\x1f\x7f,]+$")


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
        .when(~plays_text.rlike(r"^[+-]?[0-9]+$"), "bad_play_count")
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
        .when(~F.trim(mxm).rlike(r"^[0-9]+$"), "bad_mxm_id")
        .when(~F.forall(pairs, lambda p: p.rlike(r"^[0-9]{1,9}:[0-9]{1,9}$")), "bad_word_count")
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
        raise InputError("lyrics: the '%' word-list lines of the lyrics files disagree")
    if lines[LYRICS].take(1) and not vocab_size:
        raise InputError("lyrics: no '%' word-list line found, so word indexes cannot be read")
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
        name: df.agg(F.count(F.lit(1)).alias("n"), F.countDistinct("source").alias("f")).first()
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
    for row in by_reason:
        entry = inputs[row["input"]]
        if row["reason"] is None:
            entry["clean_lines"] += int(row["count"])
        else:
            entry["quarantined"][row["reason"]] = int(row["count"])
    lyr = inputs[LYRICS]
    lyr["header_lines"] = lyr["lines"] - lyr["clean_lines"] - sum(lyr["quarantined"].values())
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


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Read the raw inputs named by ``cfg.input``, write the run's clean tables and audit."""
    wh = Warehouse.from_config(cfg)
    in_dir = wh.spark_path(cfg.input.dir)
    patterns = {
        TRIPLETS: cfg.input.triplets,
        TRACKS: cfg.input.tracks,
        MISMATCHES: cfg.input.mismatches,
        LYRICS: cfg.input.lyrics,
    }
    files = {name: find_inputs(spark, in_dir, pattern) for name, pattern in patterns.items()}
    if not files[TRIPLETS]:
        raise InputError(
            f"triplets: no file matches {in_dir}/{cfg.input.triplets} (or .gz); "
            "set input.dir / input.triplets"
        )
    missing = [name for name, found in files.items() if not found]
    lines = {name: read_lines(spark, found, name) for name, found in files.items()}
    result = build_tables(spark, lines, cfg.ingest.max_play_count)

    wh.write_table(result.quarantine, run_id, S.QUARANTINE)
    tables = {}
    for name, df in (
        (S.INTERACTIONS, result.interactions),
        (S.USERS, result.users),
        (S.SONGS, result.songs),
        (S.LYRICS, result.lyrics),
        (S.VOCABULARY, result.vocabulary),
    ):
        wh.write_table(df, run_id, name)
    for name in (S.QUARANTINE, S.INTERACTIONS, S.USERS, S.SONGS, S.LYRICS, S.VOCABULARY):
        tables[name] = wh.read_table(spark, run_id, name).count()
    songs = wh.read_table(spark, run_id, S.SONGS)
    song_stats = songs.agg(
        F.sum(F.col("has_lyrics").cast("int")).alias("songs_with_lyrics"),
        F.sum((~F.col("has_lyrics")).cast("int")).alias("songs_without_lyrics"),
        F.sum((F.col("n_listeners") == 0).cast("int")).alias("songs_without_plays"),
        F.sum((F.col("n_tracks") == 0).cast("int")).alias("songs_without_metadata"),
    ).first()
    report = quality_report(
        result.counts,
        tables,
        {k: int(v or 0) for k, v in song_stats.asDict().items()},
        missing,
        cfg.ingest.max_bad_fraction,
    )
    report["files"] = files
    wh.write_json(run_id, S.QUALITY_REPORT, report)
    if tables[S.INTERACTIONS] == 0:
        raise InputError(f"triplets: no valid triplet in {', '.join(files[TRIPLETS])}")
    if not report["passed"]:
        raise JobFailed(
            "ingest quality gate failed; the quarantine table and quality_report.json are "
            f"written under {wh.run_uri(run_id)}. " + " | ".join(report["gate_failures"])
        )
    return {
        "interactions": tables[S.INTERACTIONS],
        "users": tables[S.USERS],
        "songs": tables[S.SONGS],
        "quarantined": tables[S.QUARANTINE],
        "missing": ",".join(missing) or "none",
    }
