"""What a step asked of Spark: shuffle bytes and records, input and output bytes, from Spark's
own status store (the figures behind its UI and REST API, kept with the UI off too).

These do not depend on the machine's load, so they explain a change in a step's seconds
(more data, or a plan that shuffles more). A step's figures are those of the stages whose
ids are above the mark taken when it started (stage ids only grow within a session); the
store keeps the newest ``spark.ui.retainedStages`` stages (1000 by default), so a step with
more stages than that reports ``"complete": false``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FIGURES = (
    ("shuffle_write_bytes", "shuffleWriteBytes"),
    ("shuffle_write_records", "shuffleWriteRecords"),
    ("shuffle_read_bytes", "shuffleReadBytes"),
    ("input_bytes", "inputBytes"),
    ("output_bytes", "outputBytes"),
)
QUERIES = 12  # the queries a step's figures list, largest shuffle first
WRITE_DEPTH = 3  # plan graph nodes read for a write command: [AdaptiveSparkPlan,] Execute ...


def _stages(spark: SparkSession) -> list[Any]:
    """Every stage attempt the status store holds (Spark 3.5's ``AppStatusStore.stageList``)."""
    sc = spark.sparkContext
    jvm = sc._jvm
    seq = (
        sc._jsc.sc()
        .statusStore()
        .stageList(
            jvm.java.util.ArrayList(),  # no status filter: all
            False,
            False,
            sc._gateway.new_array(jvm.double, 0),
            jvm.java.util.ArrayList(),
        )
    )
    out, it = [], seq.iterator()
    while it.hasNext():
        out.append(it.next())
    return out


def _table_written(store: Any, execution_id: int) -> str | None:
    """The warehouse table a query writes (``.../runs/<run>/<table>``), if any.

    Read from the head of the query's plan graph (the write command is its root, under
    ``AdaptiveSparkPlan`` with adaptive execution), not from the whole plan description: that
    string is of plan size, and py4j brings it to Python in full, which made the step report
    the driver's Python peak on large plans.
    """
    nodes = store.planGraph(execution_id).nodes().iterator()
    for _ in range(WRITE_DEPTH):
        if not nodes.hasNext():
            break
        node = nodes.next()
        if "InsertIntoHadoopFsRelationCommand" in node.name():
            match = re.search(r"/runs/[^/]+/(\w+)", node.desc())
            return match.group(1) if match else None
    return None


def queries(spark: SparkSession, ran: list[Any], top: int = QUERIES) -> list[dict[str, Any]]:
    """The ``top`` SQL queries of ``ran`` (stage attempts) that shuffled the most bytes, then
    every other query that wrote a warehouse table, each with what it did (the table it wrote,
    else its call site), its stages, shuffle figures and seconds: which query of a step grows
    faster than the data, and where its time went. Empty when the SQL store is not there."""
    by_stage: dict[int, list[Any]] = {}
    for s in ran:
        by_stage.setdefault(int(s.stageId()), []).append(s)
    try:
        store = spark._jsparkSession.sharedState().statusStore()
        executions = store.executionsList()
    except Exception:  # noqa: BLE001
        return []
    out, tables, it = [], set(), executions.iterator()
    while it.hasNext():
        e = it.next()
        ids, stage_it = set(), e.stages().iterator()
        while stage_it.hasNext():
            ids.add(int(stage_it.next()))
        attempts = [a for i in ids & by_stage.keys() for a in by_stage[i]]
        if not attempts:
            continue
        execution_id = int(e.executionId())
        table = _table_written(store, execution_id)
        if table is not None and not table.startswith("_"):  # not a scratch folder (_ship)
            tables.add(execution_id)
        what = table or str(e.description())[:80]
        row: dict[str, Any] = {"query": execution_id, "what": what, "stages": len(attempts)}
        done = e.completionTime()
        if done.isDefined():  # wall seconds from submission to the end (load-dependent)
            row["seconds"] = round((done.get().getTime() - e.submissionTime()) / 1000, 2)
        for key, getter in FIGURES[:2]:
            row[key] = int(sum(int(getattr(a, getter)()) for a in attempts))
        out.append(row)
    out.sort(key=lambda r: -r["shuffle_write_bytes"])
    return out[:top] + [r for r in out[top:] if r["query"] in tables]


def persisted(spark: SparkSession) -> frozenset[int] | None:
    """The ids of the RDDs (a persisted DataFrame is one) the session holds cached, or None."""
    try:
        return frozenset(int(i) for i in spark.sparkContext._jsc.getPersistentRDDs().keys())
    except Exception:  # noqa: BLE001
        return None


def cached(spark: SparkSession, before: frozenset[int] | None = None) -> int | None:
    """How many RDDs the session holds cached that were not in ``before`` (a
    :func:`persisted`: what a step left, not what its caller holds), or None."""
    now = persisted(spark)
    return None if now is None else len(now - (before or frozenset()))


def mark(spark: SparkSession) -> int | None:
    """The highest stage id so far (-1 before any), or None when the store cannot be read."""
    try:
        return max((int(s.stageId()) for s in _stages(spark)), default=-1)
    except Exception:  # noqa: BLE001 - figures are a report, never a reason to fail a step
        return None


def figures_since(
    spark: SparkSession, since: int | None, held: frozenset[int] | None = None
) -> dict[str, Any]:
    """The summed figures of every stage attempt after ``since`` (a :func:`mark`);
    ``cached_after`` counts the RDDs cached now that ``held`` (a :func:`persisted`) lacks.

    ``stages`` counts the stages that ran (skipped ones, whose shuffle output was reused,
    are left out), ``failed_attempts`` the attempts that failed (their figures are counted:
    the work was done).
    """
    if since is None:
        return {"available": False, "cached_after": cached(spark, held)}
    try:
        stages = [s for s in _stages(spark) if int(s.stageId()) > since]
        lowest = min((int(s.stageId()) for s in stages), default=since + 1)
        ran = [s for s in stages if str(s.status()) != "SKIPPED"]
        out: dict[str, Any] = {
            "available": True,
            "complete": lowest == since + 1,
            "stages": len({int(s.stageId()) for s in ran}),
            "failed_attempts": sum(str(s.status()) == "FAILED" for s in ran),
            # what the step left cached (a step should release what it cached: 0)
            "cached_after": cached(spark, held),
        }
        for key, getter in FIGURES:
            out[key] = int(sum(int(getattr(s, getter)()) for s in ran))
        out["queries"] = queries(spark, ran)
        return out
    except Exception as exc:  # noqa: BLE001
        return {"available": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
