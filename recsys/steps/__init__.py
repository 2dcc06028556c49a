"""The pipeline's steps, in order, and a runner that takes them in one SparkSession."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config


@dataclass(frozen=True)
class Step:
    name: str
    target: str  # "module:function", function(spark, cfg, run_id) -> dict summary
    doc: str

    @property
    def job_file(self) -> str:
        """The spark-submit entry point of this step."""
        return f"jobs/{self.name.replace('-', '_')}.py"

    def load(self) -> Callable[[SparkSession, Config, str], dict[str, Any]]:
        module, func = self.target.split(":")
        return getattr(importlib.import_module(module), func)


STEPS: tuple[Step, ...] = (
    Step(
        "ingest",
        "recsys.steps.ingest:run",
        "parse raw files into interactions, users, songs, lyrics",
    ),
    Step(
        "train-als",
        "recsys.steps.train_als:run",
        "implicit ALS: factors, model, cf_user_topn and cf_neighbours (optionally tuned)",
    ),
    Step(
        "train-itemknn",
        "recsys.steps.train_itemknn:run",
        "item-based CF: co-play neighbours (asymmetric cosine, locality exponent)",
    ),
    Step(
        "content", "recsys.steps.content:run", "TF-IDF, Word2Vec, LDA and combined content vectors"
    ),
    Step(
        "neighbours",
        "recsys.steps.neighbours:run",
        "content neighbours (exact, or LSH above neighbours.auto_exact_below), LSH recall",
    ),
    Step(
        "fit-blend",
        "recsys.steps.fit_blend:run",
        "choose the hybrid's blend on a validation split (one ALS and one item-based refit, "
        "reused by evaluate)",
    ),
    Step("hybrid", "recsys.steps.hybrid:run", "blend collaborative and content into top-N tables"),
    Step(
        "evaluate",
        "recsys.steps.evaluate:run",
        "score all models against baselines on held-out plays",
    ),
    Step(
        "publish", "recsys.steps.publish:run", "write the manifest; move latest if the gates pass"
    ),
)


def step(name: str) -> Step:
    for candidate in STEPS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown step {name!r}; steps are: {', '.join(s.name for s in STEPS)}")


STEP_RECORD = "step-{name}.json"  # one per step, beside the run's other documents


def record_step(
    cfg: Config,
    run_id: str,
    name: str,
    summary: dict[str, Any],
    seconds: float,
    conf_path: str | None = None,
    spark_figures: dict[str, Any] | None = None,
) -> None:
    """Write the step's record (``step-<name>.json``): its seconds, what it asked of Spark
    (:mod:`recsys.steps.stagestats`: shuffle bytes and records), when it finished, the code
    that ran it (:func:`recsys.version.code_version`) and its summary. Publish gathers them
    into the manifest; a step that runs again overwrites its own."""
    import datetime as dt

    from recsys.storage.warehouse import Warehouse
    from recsys.version import code_version

    Warehouse.from_config(cfg).write_json(
        run_id,
        STEP_RECORD.format(name=name),
        {
            "step": name,
            "seconds": round(seconds, 1),
            "spark": spark_figures or {"available": False},
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "code": code_version(conf_path),
            "summary": summary,
        },
    )


def format_summary(summary: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, (dict, list)))


@contextmanager
def shipping(spark: SparkSession, cfg: Config, run_id: str) -> Iterator[str]:
    """Ship catalogue-sized structures to the executors through the run's scratch folder
    (``runs/<run_id>/_ship/<application id>``, :mod:`recsys.similarity.ship`) while the body
    runs, and delete that folder after it (and ``_ship`` when no other application's is
    there: on S3, s3a leaves the emptied folder's marker)."""
    from recsys.similarity import ship
    from recsys.storage import files as storage
    from recsys.storage.warehouse import Warehouse

    wh = Warehouse.from_config(cfg)
    scratch = storage.join(wh.run_uri(run_id), "_ship")
    root = storage.join(scratch, spark.sparkContext.applicationId)
    ship.configure(wh.spark_path(root))
    try:
        yield root
    finally:
        if ship.clear(spark):
            ship.remove_if_empty(spark, wh.spark_path(scratch))


def run_steps(
    spark: SparkSession,
    cfg: Config,
    run_id: str,
    names: list[str] | None = None,
    log: Callable[[str], None] = print,
    conf_path: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the named steps (all by default) in pipeline order, one progress line each, and
    record each (:func:`record_step`)."""
    chosen = [s for s in STEPS if names is None or s.name in names]
    results: dict[str, dict[str, Any]] = {}
    with shipping(spark, cfg, run_id):
        for i, current in enumerate(chosen, 1):
            where = f"[{i}/{len(chosen)}] {current.name}"
            log(f"{where}: {current.doc} ...")
            summary, seconds = run_step(spark, cfg, run_id, current, conf_path)
            results[current.name] = {**summary, "seconds": round(seconds, 1)}
            log(f"{where} done in {seconds:.1f}s: {format_summary(summary)}")
    return results


def run_step(
    spark: SparkSession, cfg: Config, run_id: str, current: Step, conf_path: str | None
) -> tuple[dict[str, Any], float]:
    """Run one step, release what it broadcast, record it; ``(summary, seconds)``."""
    from recsys.similarity.topn import live_broadcasts, release_broadcasts
    from recsys.steps import stagestats

    started, stage_mark = time.perf_counter(), stagestats.mark(spark)
    held = stagestats.persisted(spark)  # what the caller holds is not the step's to release
    broadcasts = live_broadcasts()
    try:
        summary = current.load()(spark, cfg, run_id) or {}
    finally:
        destroyed = release_broadcasts(broadcasts)
    seconds = time.perf_counter() - started
    figures = {**stagestats.figures_since(spark, stage_mark, held), "broadcasts": destroyed}
    record_step(cfg, run_id, current.name, summary, seconds, conf_path, figures)
    return summary, seconds
