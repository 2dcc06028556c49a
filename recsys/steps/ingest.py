"""The ingest step: raw files -> clean tables, quarantine and the quality report.

Finds and reads the raw files through :mod:`recsys.storage.raw`, parses them with
:mod:`recsys.inputs` and writes through the :class:`~recsys.storage.warehouse.Warehouse`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import InputError
from recsys.inputs.lines import LYRICS, MISMATCHES, TRACKS, TRIPLETS
from recsys.inputs.report import (
    gate_failure,
    lost_lines,
    no_valid_triplets,
    quality_report,
    song_counts,
)
from recsys.inputs.tables import build_tables
from recsys.steps.degradations import KEY, count
from recsys.storage.raw import (
    check_inputs,
    find_inputs,
    find_unreadable,
    read_failure,
    read_lines,
)
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from recsys.config import Config


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Read the raw inputs named by ``cfg.input``, write the run's clean tables and audit."""
    wh = Warehouse.from_config(cfg)
    in_dir = wh.spark_path(cfg.input.dir_for(run_id))
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
    empty_files = check_inputs(spark, files)
    try:
        return _ingest(spark, cfg, run_id, wh, files, empty_files, patterns)
    except (Py4JJavaError, CapturedException) as exc:
        failure = read_failure(exc, files) or read_failure(
            exc, files, find_unreadable(spark, exc, files)
        )
        if failure is None:
            raise
        raise failure from None


def _ingest(
    spark: SparkSession,
    cfg: Config,
    run_id: str,
    wh: Warehouse,
    files: dict[str, list[str]],
    empty_files: list[str],
    patterns: dict[str, str],
) -> dict[str, Any]:
    missing = [name for name, found in files.items() if not found]
    lines = {name: read_lines(spark, found, name) for name, found in files.items()}
    result = build_tables(lines, cfg.ingest.max_play_count)
    try:
        wh.write_table(result.quarantine, run_id, S.QUARANTINE)
        for name, df in (
            (S.INTERACTIONS, result.interactions),
            (S.USERS, result.users),
            (S.SONGS, result.songs),
            (S.LYRICS, result.lyrics),
            (S.VOCABULARY, result.vocabulary),
        ):
            wh.write_table(df, run_id, name)
    finally:
        result.release()  # the tables are read back from the warehouse from here on
    tables = {
        name: wh.read_table(spark, run_id, name).count()
        for name in (S.QUARANTINE, S.INTERACTIONS, S.USERS, S.SONGS, S.LYRICS, S.VOCABULARY)
    }
    report = quality_report(
        result.counts,
        tables,
        song_counts(wh.read_table(spark, run_id, S.SONGS)),
        missing,
        cfg.ingest.max_bad_fraction,
    )
    report["files"] = files
    report["empty_files"] = empty_files
    report["played_songs"] = played_coverage(wh.read_table(spark, run_id, S.SONGS))
    report[KEY] = input_degradations(report, patterns)
    wh.write_json(run_id, S.QUALITY_REPORT, report)
    lost = lost_lines(report, wh.doc_uri(run_id, S.QUALITY_REPORT))
    if lost is not None:
        raise lost
    quarantine = wh.read_table(spark, run_id, S.QUARANTINE)
    if tables[S.INTERACTIONS] == 0:
        raise no_valid_triplets(report, files[TRIPLETS], quarantine)
    if not report["passed"]:
        raise gate_failure(report, quarantine, wh.run_uri(run_id))
    return {
        "interactions": tables[S.INTERACTIONS],
        "users": tables[S.USERS],
        "songs": tables[S.SONGS],
        "quarantined": tables[S.QUARANTINE],
        "missing": ",".join(missing) or "none",
        KEY: report[KEY],
    }


def played_coverage(songs: DataFrame) -> dict[str, int]:
    """Played songs, and those of them with metadata (in the track list) and with lyrics."""
    played = F.col("n_listeners") > 0
    row = songs.agg(
        F.count(F.when(played, 1)).alias("songs"),
        F.count(F.when(played & (F.col("n_tracks") > 0), 1)).alias("with_metadata"),
        F.count(F.when(played & F.col(S.HAS_LYRICS), 1)).alias("with_lyrics"),
    ).first()
    return {k: int(v) for k, v in row.asDict().items()}


def input_degradations(report: dict[str, Any], patterns: dict[str, str]) -> list[str]:
    """What the inputs lack, one sentence each: an optional input missing or empty, a track
    list that covers only part of the played songs, lyrics that reach no (played) song."""
    missing, played = report["missing_inputs"], report["played_songs"]
    empty = set(report.get("empty_files", []))
    out = [
        f"{name}: {path} is empty (0 bytes)"
        for name, paths in report.get("files", {}).items()
        for path in paths
        if path in empty
    ]
    if TRACKS in missing:
        out.append(
            f"tracks: no track list ({patterns[TRACKS]}, or .gz) in the input folder, so "
            "songs have no artist or title"
        )
    elif played["with_metadata"] == 0:
        out.append(
            f"tracks: none of the {count(played['songs'], 'played song')} is in the track list, "
            "so they have no artist or title"
        )
    elif played["with_metadata"] < played["songs"]:
        rest = played["songs"] - played["with_metadata"]
        out.append(
            f"tracks: {played['with_metadata']:,} of the {count(played['songs'], 'played song')} "
            f"are in the track list; the other {rest:,} have no artist or title"
        )
    if MISMATCHES in missing:
        out.append(
            f"mismatches: no mismatch list ({patterns[MISMATCHES]}, or .gz) in the input "
            "folder, so plays of songs matched to the wrong track are kept"
        )
    out += _lyric_degradations(report, patterns)
    return out


def _lyric_degradations(report: dict[str, Any], patterns: dict[str, str]) -> list[str]:
    if LYRICS in report["missing_inputs"]:
        return [
            f"lyrics: no musiXmatch file ({patterns[LYRICS]}, or .gz) in the input folder, so "
            "no song has lyrics"
        ]
    lines = report["inputs"][LYRICS]["clean_lines"]
    unmatched = report.get("lyrics_tracks_without_song", 0)
    out = []
    if lines and unmatched == lines:
        where = (
            "there is no track list to match them to songs"
            if TRACKS in report["missing_inputs"]
            else "none of their tracks is in the track list (less the mismatch list's)"
        )
        out.append(f"lyrics: {count(lines, 'lyric line')} unused: {where}")
    elif unmatched:
        out.append(
            f"lyrics: {unmatched:,} of the {count(lines, 'lyric line')} are for tracks not in "
            "the track list (less the mismatch list's) and are unused"
        )
    with_lyrics, played = report.get("songs_with_lyrics", 0), report["played_songs"]
    if with_lyrics and played["with_lyrics"] == 0:
        out.append(
            f"lyrics: no played song has lyrics; those with lyrics ({with_lyrics:,}) were "
            "never played"
        )
    return out
