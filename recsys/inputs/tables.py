"""Parsed lines -> the clean tables (interactions, users, songs, lyrics, vocabulary) and the
quarantine, with dense integer ids for users and songs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import InputError
from recsys.inputs.lines import LYRICS, MISMATCHES, TRACKS, TRIPLETS, with_line_numbers
from recsys.inputs.parsers import (
    INT_MAX,
    parse_lyrics,
    parse_mismatches,
    parse_tracks,
    parse_triplets,
    parse_vocabulary,
    quarantine_rows,
)
from recsys.inputs.report import count_lines, mismatch_counts

LEVEL = StorageLevel.MEMORY_AND_DISK


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
    cached: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        """Unpersist what :func:`build_tables` cached (once the tables are written)."""
        for df in self.cached:
            df.unpersist()
        self.cached.clear()


def build_tables(lines: dict[str, DataFrame], max_play_count: int) -> IngestResult:
    """Parse the raw lines of each input (by input name) into the clean tables and the
    quarantine.

    Raises
    ------
    InputError
        When the lyrics files' ``%`` word lists disagree, or lyrics have none.
    """
    cached: list[DataFrame] = []

    def keep(df: DataFrame) -> DataFrame:
        cached.append(df.persist(LEVEL))
        return df

    triplets = keep(parse_triplets(lines[TRIPLETS], max_play_count))
    tracks = keep(parse_tracks(lines[TRACKS]))
    mismatches = keep(parse_mismatches(lines[MISMATCHES]))
    parsed = {TRIPLETS: triplets, TRACKS: tracks, MISMATCHES: mismatches}  # a row per raw line
    vocabulary, vocab_size = _vocabulary(lines[LYRICS])
    cached.append(vocabulary)
    lyric_lines = keep(parse_lyrics(lines[LYRICS], vocab_size))

    bad_songs = mismatched_songs(mismatches)
    triplets = mark_mismatched(triplets, bad_songs)
    tracks = mark_mismatched(tracks, bad_songs)
    quarantine = _quarantine(lines, [triplets, tracks, mismatches, lyric_lines])

    pairs = keep(play_pairs(triplets.filter(F.col("reason").isNull())))
    good_tracks = tracks.filter(F.col("reason").isNull())
    good_lyrics = lyric_lines.filter(F.col("reason").isNull())
    lyric_tracks = good_lyrics.groupBy(S.TRACK_ID).agg(
        F.first(S.WORD_IDX).alias(S.WORD_IDX), F.first(S.WORD_COUNT).alias(S.WORD_COUNT)
    )
    catalogue = song_catalogue(good_tracks, lyric_tracks, pairs)
    song_ids = keep(dense_index(catalogue, S.SONG_ID, S.SONG, cached))
    user_ids = keep(dense_index(pairs, S.USER_ID, S.USER, cached))

    songs = catalogue.join(song_ids, S.SONG_ID).select(*[f.name for f in S.SONGS_SCHEMA.fields])
    lyrics = (
        songs.filter("has_lyrics")
        .select(S.SONG, S.TRACK_ID)
        .join(lyric_tracks, S.TRACK_ID)
        .select(*[f.name for f in S.LYRICS_SCHEMA.fields])
    )

    counts = count_lines(lines, triplets, tracks, mismatches, lyric_lines, pairs, parsed)
    counts["vocabulary"] = vocab_size
    counts.update(mismatch_counts(bad_songs, triplets, tracks))
    counts["lyrics_tracks_without_song"] = good_lyrics.join(
        good_tracks.select(S.TRACK_ID), S.TRACK_ID, "left_anti"
    ).count()
    return IngestResult(
        interactions(pairs, user_ids, song_ids),
        users(pairs, user_ids),
        songs,
        lyrics,
        vocabulary,
        quarantine,
        counts,
        cached,
    )


def _vocabulary(lyric_lines: DataFrame) -> tuple[DataFrame, int]:
    """The (persisted) vocabulary of the lyrics' ``%`` word list and its size.

    Raises
    ------
    InputError
        When the word lists of several files disagree, or data lines have no word list.
    """
    vocabulary = S.to_schema(parse_vocabulary(lyric_lines), S.VOCABULARY_SCHEMA).persist(LEVEL)
    vocab_size = vocabulary.count()
    if vocab_size and vocabulary.select(S.WORD_IDX).distinct().count() != vocab_size:
        raise InputError(
            "lyrics: the '%' word-list lines of the lyrics files disagree: "
            + _sources(lyric_lines.filter(F.col("raw").startswith("%")))
        )
    lyric_data = lyric_lines.filter(~F.col("raw").startswith("#"))
    if not vocab_size and lyric_data.take(1):
        raise InputError(
            "lyrics: no '%' word-list line found, so the word indexes of the data lines cannot "
            f"be read, in {_sources(lyric_data)}; the musiXmatch file must keep its '%' line"
        )
    return vocabulary, vocab_size


def _sources(lines: DataFrame, limit: int = 5) -> str:
    """The files ``lines`` come from (at most ``limit``), for messages."""
    found = sorted(r["source"] for r in lines.select("source").distinct().limit(limit).collect())
    return ", ".join(found) or "(no file)"


def mismatched_songs(mismatches: DataFrame) -> DataFrame:
    """The songs of the good mismatch-list lines, flagged ``_mismatched``."""
    bad_songs = mismatches.filter(F.col("reason").isNull()).select(S.SONG_ID).distinct()
    return bad_songs.withColumn("_mismatched", F.lit(True))


def mark_mismatched(parsed: DataFrame, bad_songs: DataFrame) -> DataFrame:
    """Good rows of ``parsed`` whose song is in ``bad_songs`` get ``song_in_mismatch_list``."""
    # broadcast here, on the join's right side: a hint carried by the table itself would also
    # sit on the left of the report's anti join, where Spark cannot use it and warns
    joined = parsed.join(F.broadcast(bad_songs), S.SONG_ID, "left")
    return joined.withColumn(
        "reason",
        F.when(
            F.col("reason").isNull() & F.col("_mismatched").isNotNull(),
            F.lit("song_in_mismatch_list"),
        ).otherwise(F.col("reason")),
    ).drop("_mismatched")


def _quarantine(lines: dict[str, DataFrame], parsed: list[DataFrame]) -> DataFrame:
    """Every parsed row with a reason, numbered by its line in its file."""
    rejected = [quarantine_rows(part) for part in parsed]
    all_lines = lines[TRIPLETS]
    for name in (TRACKS, MISMATCHES, LYRICS):
        all_lines = all_lines.unionByName(lines[name])
    quarantine = rejected[0]
    for part in rejected[1:]:
        quarantine = quarantine.unionByName(part)
    return with_line_numbers(all_lines, quarantine).select(
        *[f.name for f in S.QUARANTINE_SCHEMA.fields]
    )


def play_pairs(good_triplets: DataFrame) -> DataFrame:
    """One row per (user, song): plays summed over duplicate lines, ``_lines`` counted."""
    return good_triplets.groupBy(S.USER_ID, S.SONG_ID).agg(
        F.sum(S.PLAYS).alias(S.PLAYS), F.count(F.lit(1)).alias("_lines")
    )


def song_catalogue(good_tracks: DataFrame, lyric_tracks: DataFrame, pairs: DataFrame) -> DataFrame:
    """Songs from the track list plus played songs missing from it, one canonical track each
    (one with lyrics first, then the smallest track id), with listener and play counts."""
    tracks_with_lyrics = good_tracks.join(
        lyric_tracks.select(S.TRACK_ID, F.lit(True).alias("_has_lyrics")), S.TRACK_ID, "left"
    ).withColumn("_has_lyrics", F.coalesce("_has_lyrics", F.lit(False)))
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
    return per_song.join(song_stats, S.SONG_ID, "full_outer").select(
        S.SONG_ID,
        S.TRACK_ID,
        S.ARTIST,
        S.TITLE,
        F.coalesce("n_tracks", F.lit(0)).cast("int").alias("n_tracks"),
        F.coalesce("has_lyrics", F.lit(False)).alias("has_lyrics"),
        F.coalesce("n_listeners", F.lit(0)).cast("int").alias("n_listeners"),
        F.coalesce("n_plays", F.lit(0)).cast("long").alias("n_plays"),
    )


def interactions(pairs: DataFrame, user_ids: DataFrame, song_ids: DataFrame) -> DataFrame:
    """(user, song, plays) by dense ids; plays summed past INT_MAX are clamped to it."""
    return (
        pairs.join(user_ids, S.USER_ID)
        .join(song_ids, S.SONG_ID)
        .select(
            F.col(S.USER),
            F.col(S.SONG),
            F.least(F.col(S.PLAYS), F.lit(INT_MAX)).cast("int").alias(S.PLAYS),
        )
    )


def users(pairs: DataFrame, user_ids: DataFrame) -> DataFrame:
    """One row per user: dense id, string id, songs played and (exact) plays."""
    return (
        pairs.groupBy(S.USER_ID)
        .agg(
            F.count(F.lit(1)).cast("int").alias("n_songs"),
            F.sum(S.PLAYS).cast("long").alias("n_plays"),
        )
        .join(user_ids, S.USER_ID)
        .select(*[f.name for f in S.USERS_SCHEMA.fields])
    )


def dense_index(
    ids: DataFrame, id_col: str, idx_col: str, cached: list[DataFrame] | None = None
) -> DataFrame:
    """Map distinct string ids to 0..n-1 in sorted order, without a single-partition window.

    Sorting range-partitions the ids; each partition's offset is the size of the partitions
    before it (a partition-count table, tiny), so the numbering is contiguous and stable.
    The sorted ids are persisted so both passes see the same partitions (appended to
    ``cached`` for the caller to release once the index is written).
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
        .persist(LEVEL)
    )
    if cached is not None:
        cached.append(ordered)
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
