"""The ingest's accounting: line counts by outcome, the quality report and its gate, and the
messages that end a run (with the first bad line and a hint at its likely cause)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.errors import InputError, JobFailed
from recsys.inputs.lines import LYRICS, TRACKS, TRIPLETS


def count_lines(
    lines: dict[str, DataFrame],
    triplets: DataFrame,
    tracks: DataFrame,
    mismatches: DataFrame,
    lyric_lines: DataFrame,
    pairs: DataFrame,
    parsed: dict[str, DataFrame] | None = None,
) -> dict[str, Any]:
    """Per-input line counts by outcome: a few small aggregates brought to the driver.

    ``lines`` are the raw lines. The line totals of the triplets, tracks and mismatches come
    from ``parsed`` instead (each input's persisted parse, one row per raw line: a select of
    the raw lines, no filter), so their raw text is read once, by the parse; the lyrics'
    (with their ``#`` and ``%`` lines, which the parse leaves out) from their raw lines."""
    by_reason = (
        triplets.select("input", "reason")
        .unionByName(tracks.select("input", "reason"))
        .unionByName(mismatches.select("input", "reason"))
        .unionByName(lyric_lines.select("input", "reason"))
        .groupBy("input", "reason")
        .count()
        .collect()
    )
    parsed = {k: v for k, v in (parsed or {}).items() if k != LYRICS}
    sources = {name: parsed.get(name, df) for name, df in lines.items()}
    line_totals = {
        name: df.agg(
            F.count(F.lit(1)).alias("n"),
            F.countDistinct("source").alias("f"),
            *(
                [
                    F.count(F.when(F.col("raw").startswith("#"), 1)).alias("comment"),
                    F.count(F.when(F.col("raw").startswith("%"), 1)).alias("wordlist"),
                ]
                if name == LYRICS
                else []
            ),
        ).first()
        for name, df in sources.items()
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


def mismatch_counts(bad_songs: DataFrame, triplets: DataFrame, tracks: DataFrame) -> dict[str, int]:
    """Songs of the mismatch list, and those that match nothing (no triplet, no track).

    Unmatched ones are valid lines but worth seeing; the join is on the small mismatch list
    and the few rows it filtered.
    """
    hit_songs = (
        triplets.filter(F.col("reason") == "song_in_mismatch_list")
        .select(S.SONG_ID)
        .unionByName(tracks.filter(F.col("reason") == "song_in_mismatch_list").select(S.SONG_ID))
        .distinct()
    )
    listed = bad_songs.select(S.SONG_ID)
    return {
        "mismatch_song_ids": listed.count(),
        "mismatch_song_ids_unmatched": listed.join(hit_songs, S.SONG_ID, "left_anti").count(),
    }


def song_counts(songs: DataFrame) -> dict[str, int]:
    """Songs with and without lyrics, plays and metadata, for the report."""
    stats = songs.agg(
        F.sum(F.col("has_lyrics").cast("int")).alias("songs_with_lyrics"),
        F.sum((~F.col("has_lyrics")).cast("int")).alias("songs_without_lyrics"),
        F.sum((F.col("n_listeners") == 0).cast("int")).alias("songs_without_plays"),
        F.sum((F.col("n_tracks") == 0).cast("int")).alias("songs_without_metadata"),
    ).first()
    return {k: int(v or 0) for k, v in stats.asDict().items()}


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


def lost_lines(report: dict[str, Any], report_uri: str) -> JobFailed | None:
    """The failure to raise when some input lines are neither clean, quarantined nor header."""
    lost = {
        n: e["unaccounted_lines"] for n, e in report["inputs"].items() if e["unaccounted_lines"]
    }
    if not lost:
        return None
    return JobFailed(
        f"ingest lost track of lines (lines not clean, quarantined or header): {lost}; "
        f"see {report_uri}"
    )


def no_valid_triplets(
    report: dict[str, Any], triplet_files: list[str], quarantine: DataFrame
) -> InputError:
    """The error for a run whose triplets gave no interaction, with the first bad line."""
    trip = report["inputs"][TRIPLETS]
    reasons = ", ".join(f"{r}={n}" for r, n in sorted(trip["quarantined"].items()))
    return InputError(
        f"triplets: no valid triplet among the {trip['lines']} lines of "
        f"{', '.join(triplet_files)}"
        + (f" (quarantined: {reasons})" if reasons else "")
        + first_bad_line(quarantine, TRIPLETS)
    )


def gate_failure(report: dict[str, Any], quarantine: DataFrame, run_uri: str) -> JobFailed:
    """The error for a failed quality gate: each failing input with its first bad line."""
    failing = [
        n for n, e in report["inputs"].items() if e["bad_fraction"] > report["max_bad_fraction"]
    ]
    return JobFailed(
        "ingest quality gate failed; the quarantine table and quality_report.json are "
        f"written under {run_uri}. "
        + " | ".join(
            msg + first_bad_line(quarantine, name)
            for name, msg in zip(failing, report["gate_failures"], strict=True)
        )
    )


def first_bad_line(quarantine: DataFrame, input_name: str) -> str:
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
