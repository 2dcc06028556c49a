"""The ingest step: raw files -> clean tables, quarantine and the quality report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import JobFailed
from recsys.inputs.ingest import (
    LYRICS,
    MISMATCHES,
    TRACKS,
    TRIPLETS,
    InputError,
    _first_bad_line,
    build_tables,
    check_inputs,
    find_inputs,
    find_unreadable,
    quality_report,
    read_failure,
    read_lines,
)
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from recsys.config import Config


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
    empty_files = check_inputs(spark, files)
    try:
        return _ingest(spark, cfg, run_id, wh, files, empty_files)
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
) -> dict[str, Any]:
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
    report["empty_files"] = empty_files
    wh.write_json(run_id, S.QUALITY_REPORT, report)
    lost = {
        n: e["unaccounted_lines"] for n, e in report["inputs"].items() if e["unaccounted_lines"]
    }
    if lost:
        raise JobFailed(
            f"ingest lost track of lines (lines not clean, quarantined or header): {lost}; "
            f"see {wh.doc_uri(run_id, S.QUALITY_REPORT)}"
        )
    quarantine = wh.read_table(spark, run_id, S.QUARANTINE)
    if tables[S.INTERACTIONS] == 0:
        trip = report["inputs"][TRIPLETS]
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(trip["quarantined"].items()))
        raise InputError(
            f"triplets: no valid triplet among the {trip['lines']} lines of "
            f"{', '.join(files[TRIPLETS])}"
            + (f" (quarantined: {reasons})" if reasons else "")
            + _first_bad_line(quarantine, TRIPLETS)
        )
    if not report["passed"]:
        failing = [
            n for n, e in report["inputs"].items() if e["bad_fraction"] > report["max_bad_fraction"]
        ]
        raise JobFailed(
            "ingest quality gate failed; the quarantine table and quality_report.json are "
            f"written under {wh.run_uri(run_id)}. "
            + " | ".join(
                msg + _first_bad_line(quarantine, name)
                for name, msg in zip(failing, report["gate_failures"], strict=True)
            )
        )
    return {
        "interactions": tables[S.INTERACTIONS],
        "users": tables[S.USERS],
        "songs": tables[S.SONGS],
        "quarantined": tables[S.QUARANTINE],
        "missing": ",".join(missing) or "none",
    }
