"""The warehouse's run history: one row per run, newest first, from the documents each run
keeps (a pruned run's too): what the viewer's History page shows.

A row says whether the run was published (and is ``latest``), refused (and by which gates,
with their details) or stopped before publish (and after which step); its input sizes
(triplet lines, users, songs, the triplets' quarantined share), each step's seconds and
shuffle bytes, the gate metric of every model and the night-over-night figures publish
computed (:mod:`recsys.evaluation.drift`). Nothing here reads a table.
"""

from __future__ import annotations

from typing import Any

from recsys import names
from recsys.errors import WarehouseError
from recsys.storage import retention
from recsys.storage.warehouse import Warehouse

STEP_PREFIX, STEP_SUFFIX = "step-", ".json"
DEFAULT_METRIC = "ndcg@10"


def _doc(wh: Warehouse, run_id: str, name: str, documents: tuple[str, ...]) -> dict | None:
    if name not in documents:
        return None
    try:
        found = wh.read_json(run_id, name)
    except WarehouseError:
        return None
    return found if isinstance(found, dict) else None


def _steps(wh: Warehouse, run: retention.Run, manifest: dict | None) -> list[dict[str, Any]]:
    """Each step's {step, seconds, shuffle_write_bytes}: the manifest's list, else the
    step records a run that stopped early left."""
    listed = (manifest or {}).get("steps")
    if not isinstance(listed, list):
        from recsys.steps import STEPS

        listed = []
        for s in STEPS:
            doc = _doc(wh, run.run_id, f"{STEP_PREFIX}{s.name}{STEP_SUFFIX}", run.documents)
            if doc is not None:
                listed.append(doc)
    out = []
    for s in listed:
        if isinstance(s, dict) and isinstance(s.get("step"), str):
            spark = s.get("spark") if isinstance(s.get("spark"), dict) else {}
            out.append(
                {
                    "step": s["step"],
                    "seconds": s.get("seconds"),
                    "shuffle_write_bytes": spark.get("shuffle_write_bytes"),
                }
            )
    return out


def _inputs(quality: dict | None) -> dict[str, Any]:
    tables = (quality or {}).get("tables") or {}
    triplets = ((quality or {}).get("inputs") or {}).get("triplets") or {}
    lines = triplets.get("lines")
    quarantined = sum((triplets.get("quarantined") or {}).values())
    return {
        "triplet_lines": lines,
        "users": tables.get(names.USERS),
        "songs": tables.get(names.SONGS),
        "quarantined_share": quarantined / lines if lines else None,
    }


def _state(run: retention.Run, manifest: dict | None, steps: list[dict]) -> tuple[str, str]:
    """(state label, why) of the run."""
    if run.state == "refused":
        gates = (manifest or {}).get("gates") or []
        why = "; ".join(
            f"{g.get('name')}: {g.get('detail')}"
            for g in gates
            if isinstance(g, dict) and not g.get("passed")
        )
        return "refused", why
    if run.state == "incomplete":
        last = steps[-1]["step"] if steps else None
        return "incomplete", f"stopped after {last}" if last else "no step finished"
    if run.state == "unreadable":
        return "unreadable", "manifest.json is not valid JSON"
    return ("published (latest)" if run.is_latest else "published"), ""


def history(wh: Warehouse, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of the History page, newest first (at most ``limit`` runs)."""
    runs = retention.scan(wh)[:limit]
    rows = []
    for run in runs:
        manifest = _doc(wh, run.run_id, names.MANIFEST, run.documents)
        quality = _doc(wh, run.run_id, names.QUALITY_REPORT, run.documents)
        evaluation = None
        if manifest is None:  # a run that stopped after evaluate still has its metrics
            evaluation = _doc(wh, run.run_id, names.EVALUATION_JSON, run.documents)
        steps = _steps(wh, run, manifest)
        state, why = _state(run, manifest, steps)
        config = (manifest or {}).get("config") or {}
        metric = (config.get("publish") or {}).get("gate_metric") or DEFAULT_METRIC
        models = (manifest or {}).get("metrics") or (evaluation or {}).get("models") or {}
        comparison = (manifest or {}).get("comparison") or {}
        rows.append(
            {
                "run_id": run.run_id,
                "state": state,
                "why": why,
                "pruned": run.pruned == retention.DONE,
                "created": run.when.isoformat(timespec="seconds") if run.when else None,
                "code": ((manifest or {}).get("code") or {}).get("commit"),
                **_inputs(quality),
                "seconds": sum(s["seconds"] or 0 for s in steps) if steps else None,
                "steps": steps,
                "gate_metric": metric,
                "metrics": {
                    model: values.get(metric)
                    for model, values in models.items()
                    if isinstance(values, dict)
                },
                "compared_with": comparison.get("previous_run"),
                "top_k": comparison.get("k"),
                "top_k_churn": comparison.get("top_k_churn"),
                "first_pick_changed_share": comparison.get("first_pick_changed_share"),
                "songs_entered": comparison.get("songs_entered"),
                "songs_left": comparison.get("songs_left"),
                "comparison_skipped": comparison.get("skipped"),
                "warnings": list((manifest or {}).get("warnings") or []),
            }
        )
    return rows
