"""The publish step: write the run's manifest, then move ``latest`` only if the gates pass.

Gates: every table of the run is complete, ingest's quality report passed, and the hybrid
beats the popularity baseline on ``publish.gate_metric``; optionally the inputs are fresh
(``publish.stale_inputs: refuse``) and nothing drifted against the last published run
(``publish.drift``, :mod:`recsys.evaluation.drift`). The manifest is written either way
(``published`` says which, with the night-over-night ``comparison``); a failed gate leaves
``latest`` where it was and says why. With ``warehouse.retention.prune_after_publish`` a
published run then prunes the old runs' tables (:mod:`recsys.storage.retention`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import TYPE_CHECKING, Any

from recsys import schemas as S
from recsys.errors import JobFailed, WarehouseError
from recsys.steps import degradations
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config

PUBLISHED_TABLES = (
    S.INTERACTIONS,
    S.USERS,
    S.SONGS,
    S.LYRICS,
    S.VOCABULARY,
    S.QUARANTINE,
    S.USER_FACTORS,
    S.ITEM_FACTORS,
    S.CF_USER_TOPN,
    S.CF_NEIGHBOURS,
    S.COPLAY_NEIGHBOURS,
    S.CONTENT_VECTORS,
    S.LDA_TOPICS,
    S.CONTENT_NEIGHBOURS,
    S.USER_CANDIDATES,
    S.USER_RECOMMENDATIONS,
    S.SIMILAR_SONGS,
    S.METRICS,
)


def input_fingerprints(spark: SparkSession, files: dict[str, list[str]]) -> dict[str, list]:
    """Size and modification time of every raw input file, through Hadoop's FileSystem."""
    jvm = spark.sparkContext._jvm
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    out: dict[str, list] = {}
    for name, paths in files.items():
        out[name] = []
        for path in paths:
            p = jvm.org.apache.hadoop.fs.Path(path)
            status = p.getFileSystem(hconf).getFileStatus(p)
            out[name].append(
                {
                    "path": path,
                    "bytes": int(status.getLen()),
                    "modified": dt.datetime.fromtimestamp(
                        status.getModificationTime() / 1000, dt.UTC
                    ).isoformat(timespec="seconds"),
                }
            )
    return out


def check_gates(
    tables: dict[str, int | None],
    quality: dict[str, Any] | None,
    evaluation: dict[str, Any] | None,
    gate_metric: str,
    require_beat_popularity: bool,
) -> list[dict[str, Any]]:
    """Each gate as {name, passed, detail}."""
    missing = sorted(name for name, rows in tables.items() if rows is None)
    gates = [
        {
            "name": "tables_complete",
            "passed": not missing,
            "detail": "all tables complete" if not missing else f"missing or incomplete: {missing}",
        }
    ]
    if quality is None:
        gates.append({"name": "input_quality", "passed": False, "detail": "no quality report"})
    else:
        failures = quality.get("gate_failures", [])
        gates.append(
            {
                "name": "input_quality",
                "passed": bool(quality.get("passed")),
                "detail": "; ".join(failures) or "malformed lines within limits",
            }
        )
    if require_beat_popularity:
        models = (evaluation or {}).get("models", {})
        hyb = models.get("hybrid", {}).get(gate_metric)
        pop = models.get("popularity", {}).get(gate_metric)
        if hyb is None or pop is None or any(math.isnan(v) for v in (hyb, pop)):
            passed, detail = False, f"no {gate_metric} for hybrid and popularity in evaluation.json"
        else:
            passed = hyb > pop
            detail = (
                f"hybrid {gate_metric} {hyb:.4f} {'>' if passed else '<='} popularity {pop:.4f}"
            )
        gates.append({"name": "beats_popularity", "passed": passed, "detail": detail})
    return gates


def step_records(wh: Warehouse, run_id: str) -> dict[str, dict[str, Any]]:
    """The records of the steps that ran before publish (``step-<name>.json``), by name."""
    from recsys.steps import STEP_RECORD, STEPS

    found = {}
    for s in STEPS:
        doc = _read_doc(wh, run_id, STEP_RECORD.format(name=s.name))
        if doc is not None:
            found[s.name] = doc
    return found


def code_of(records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The code the run's steps ran: one version, or each step's when they differ (a deploy
    in the middle of a run)."""
    from recsys.version import code_version

    versions = {json.dumps(r.get("code"), sort_keys=True): r.get("code") for r in records.values()}
    if len(versions) == 1:
        return next(iter(versions.values())) or code_version()
    if not versions:
        return code_version()
    return {"mixed": {name: r.get("code") for name, r in records.items()}}


def stale_inputs(
    inputs: dict[str, list], previous: dict[str, Any] | None, previous_id: str | None
) -> str | None:
    """A sentence when every input file's path, size and modification time are the last
    published run's (tonight's input is last night's), else None."""
    if not previous or not inputs or previous.get("inputs") != inputs:
        return None
    files = sum(len(v) for v in inputs.values())
    return (
        f"inputs: the {files} input file(s) have the same paths, sizes and modification times "
        f"as those of the last published run {previous_id}: tonight's input is that run's"
    )


def baseline_run(wh: Warehouse, run_id: str, latest: str | None) -> str | None:
    """The run tonight is compared with: ``latest``, or (publishing a run again that is
    already latest) the run its manifest was compared with."""
    if latest and latest != run_id:
        return latest
    if latest == run_id:
        own = _read_doc(wh, run_id, S.MANIFEST) or {}
        found = own.get("compared_with")
        return found if isinstance(found, str) and found != run_id else None
    return None


def night_over_night(
    spark: SparkSession,
    wh: Warehouse,
    run_id: str,
    baseline: str | None,
    k: int,
    tables: dict[str, int | None],
    evaluation: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The comparison with ``baseline`` (:func:`recsys.evaluation.drift.compare_runs`), a
    ``skipped`` reason when one side's lists are gone, or None without a baseline."""
    from recsys.evaluation import drift

    if baseline is None:
        return None
    if tables.get(S.USER_RECOMMENDATIONS) is None:
        return {"previous_run": baseline, "skipped": "this run's lists are incomplete"}
    needed = (S.USER_RECOMMENDATIONS, S.USERS, S.SONGS)
    gone = [t for t in needed if not wh.has_table(baseline, t)]
    if gone:
        pruned = " (pruned)" if storage_exists(wh, baseline, S.PRUNED) else ""
        return {
            "previous_run": baseline,
            "skipped": f"run {baseline} has no complete {', '.join(gone)}{pruned}",
        }
    previous = _read_doc(wh, baseline, S.MANIFEST) or {}
    prev_songs = (previous.get("tables") or {}).get(S.SONGS)
    lists = tuple(
        drift.labelled_lists(*(wh.read_table(spark, r, t) for t in needed))
        for r in (baseline, run_id)
    )
    return drift.compare_runs(
        baseline,
        lists,
        k,
        (prev_songs, tables.get(S.SONGS)),
        (previous.get("metrics"), (evaluation or {}).get("models")),
    )


def storage_exists(wh: Warehouse, run_id: str, name: str) -> bool:
    from recsys.storage import files as storage

    return storage.exists(wh.doc_uri(run_id, name))


def write_comparison(spark: SparkSession, wh: Warehouse, run_id: str, comparison: dict) -> None:
    """The comparison's figures as the run's small ``run_comparison`` table."""
    from recsys.evaluation import drift

    rows = drift.comparison_rows(comparison)
    frame = spark.createDataFrame(rows, schema=S.RUN_COMPARISON_SCHEMA)
    wh.write_table(frame.coalesce(1), run_id, S.RUN_COMPARISON)


def prune_after(wh: Warehouse, cfg: Config, run_id: str) -> list[str]:
    """Prune the warehouse by ``warehouse.retention`` (the nightly run, once published)."""
    from recsys.storage import retention

    r = cfg.warehouse.retention
    policy = retention.Policy(r.keep, r.min_age_days, r.in_progress_hours)
    decisions = retention.plan(retention.scan(wh), policy, dt.datetime.now(dt.UTC))
    by = {"command": f"publish of run {run_id} (warehouse.retention.prune_after_publish)"}
    return retention.prune(wh, decisions, by, policy)


def drift_gate(
    wh: Warehouse,
    cfg: Config,
    baseline: str | None,
    comparison: dict[str, Any] | None,
    evaluation: dict[str, Any] | None,
    inputs: dict[str, list],
    code: dict[str, Any],
) -> dict[str, Any]:
    """The drift gate (:func:`recsys.evaluation.drift.drift_gate`) against ``baseline``."""
    from recsys.evaluation import drift

    base_manifest = (_read_doc(wh, baseline, S.MANIFEST) or {}) if baseline else {}
    same = base_manifest.get("inputs") == inputs and base_manifest.get("code") == code
    return drift.drift_gate(
        comparison,
        cfg.publish.gate_metric,
        (_read_doc(wh, baseline, S.EVALUATION_JSON) if baseline else None, evaluation),
        cfg.publish.drift.max_metric_drop,
        cfg.publish.drift.max_churn,
        same,
    )


def _read_doc(wh: Warehouse, run_id: str, name: str) -> dict[str, Any] | None:
    try:
        return wh.read_json(run_id, name)
    except WarehouseError:
        return None


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Write ``manifest.json``; move ``latest`` to this run when every gate passes."""
    wh = Warehouse.from_config(cfg)
    tables: dict[str, int | None] = {}
    for name in PUBLISHED_TABLES:
        tables[name] = (
            wh.read_table(spark, run_id, name).count() if wh.has_table(run_id, name) else None
        )
    quality = _read_doc(wh, run_id, S.QUALITY_REPORT)
    evaluation = _read_doc(wh, run_id, S.EVALUATION_JSON)
    gates = check_gates(
        tables, quality, evaluation, cfg.publish.gate_metric, cfg.publish.require_beat_popularity
    )
    previous = wh.latest_run_id()
    inputs = input_fingerprints(spark, (quality or {}).get("files", {}))
    stale = None
    if cfg.publish.stale_inputs != "ignore" and previous and previous != run_id:
        stale = stale_inputs(inputs, _read_doc(wh, previous, S.MANIFEST), previous)
    if stale and cfg.publish.stale_inputs == "refuse":
        gates.append({"name": "fresh_inputs", "passed": False, "detail": stale})
    records = step_records(wh, run_id)
    code = code_of(records)
    baseline = baseline_run(wh, run_id, previous)
    try:
        comparison = night_over_night(
            spark, wh, run_id, baseline, cfg.publish.compare_top_k, tables, evaluation
        )
    except WarehouseError as exc:  # a damaged baseline: say so, never fail the night on it
        comparison = {"previous_run": baseline, "skipped": str(exc)}
    if comparison and "metrics" in comparison:
        write_comparison(spark, wh, run_id, comparison)
    if cfg.publish.drift.enabled:
        gates.append(drift_gate(wh, cfg, baseline, comparison, evaluation, inputs, code))
    passed = all(g["passed"] for g in gates)
    manifest = {
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code": code,
        # in pipeline order (a list: the documents are written with sorted keys), with what
        # each asked of Spark (shuffle bytes and records: recsys.steps.stagestats)
        "steps": [
            {"step": name, "seconds": r.get("seconds"), "spark": r.get("spark")}
            for name, r in records.items()
        ],
        "config": cfg.to_dict(),
        "inputs": inputs,
        "warnings": [stale] if stale else [],
        "tables": tables,
        "metrics": (evaluation or {}).get("models", {}),
        "metric_intervals": ((evaluation or {}).get("intervals") or {}).get("hybrid", {}),
        # which evaluation ran (every user who hid plays, or a sample; the alpha sweep or not)
        "evaluation": (evaluation or {}).get("evaluated"),
        "blend": _read_doc(wh, run_id, S.BLEND),
        # what the inputs did not allow, from every step's document, in pipeline order
        degradations.KEY: degradations.gather(
            {name: _read_doc(wh, run_id, name) for _, name in degradations.STEP_DOCS}
        ),
        "gates": gates,
        "published": passed,
        "previous_latest": previous,
        "compared_with": baseline,
        "comparison": comparison,
    }
    wh.write_json(run_id, S.MANIFEST, manifest)
    if not passed:
        reasons = "; ".join(f"{g['name']}: {g['detail']}" for g in gates if not g["passed"])
        raise JobFailed(f"run {run_id} not published, latest stays at {previous}: {reasons}")
    wh.set_latest(run_id, published_at=manifest["created_at"])
    summary: dict[str, Any] = {"published": run_id, "previous": previous or "none"}
    if comparison and comparison.get("top_k_churn") is not None:
        summary[f"top{comparison['k']}_churn"] = round(comparison["top_k_churn"], 3)
    if cfg.warehouse.retention.prune_after_publish:
        summary["pruned"] = len(prune_after(wh, cfg, run_id))
    return summary
