"""The ingest step: raw files -> clean tables, quarantine and the quality report.

Finds and reads the raw files through :mod:`recsys.storage.raw`, parses them with
:mod:`recsys.inputs` and writes through the :class:`~recsys.storage.warehouse.Warehouse`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import SparkSession

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
    result = build_tables(lines, cfg.ingest.max_play_count)

    wh.write_table(result.quarantine, run_id, S.QUARANTINE)
    for name, df in (
        (S.INTERACTIONS, result.interactions),
        (S.USERS, result.users),
        (S.SONGS, result.songs),
        (S.LYRICS, result.lyrics),
        (S.VOCABULARY, result.vocabulary),
    ):
        wh.write_table(df, run_id, name)
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
    }
