"""The neighbours step: content_vectors -> content_neighbours and lsh_recall.json."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.columns import unit_array
from recsys.similarity.neighbours import content_neighbours, log, measure_recall
from recsys.steps.degradations import KEY
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from recsys.config import Config, NeighboursConfig


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Read ``content_vectors``, write ``content_neighbours`` and ``lsh_recall.json``."""
    wh = Warehouse.from_config(cfg)
    ncfg = cfg.neighbours
    vectors = (
        wh.read_table(spark, run_id, S.CONTENT_VECTORS)
        .select(S.SONG, S.FEATURES)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        if not vectors.take(1):
            return _no_vectors(spark, wh, run_id, ncfg)
        n_vectors = vectors.where(unit_array(F.col(S.FEATURES)).isNotNull()).count()
        method = ncfg.method_for(n_vectors)
        started = time.perf_counter()
        wh.write_table(content_neighbours(vectors, ncfg, method), run_id, S.CONTENT_NEIGHBOURS)
        seconds = round(time.perf_counter() - started, 2)
        written = wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS)
        counts = written.agg(
            F.count(F.lit(1)).alias("rows"), F.countDistinct(S.SONG).alias("songs")
        ).first()
        doc: dict[str, Any] = {
            "method": method,
            "configured_method": ncfg.method,
            "songs_with_vectors": n_vectors,
            "k": ncfg.k,
            "neighbour_seconds": seconds,
            "settings": {
                "bucket_length": ncfg.bucket_length,
                "num_hash_tables": ncfg.num_hash_tables,
                "hashes_per_table": ncfg.hashes_per_table,
                "max_candidates": ncfg.max_candidates,
                "min_similarity": ncfg.min_similarity,
                "seed": ncfg.seed,
            },
        }
        if method == "exact":
            doc.update(recall=1.0, measured=False, note="exact neighbours: recall 1 by definition")
        elif ncfg.recall_sample == 0:
            doc.update(recall=None, measured=False, note="neighbours.recall_sample is 0")
        else:
            doc.update(measure_recall(vectors, written, ncfg), measured=True)
        doc[KEY] = []
        wh.write_json(run_id, S.LSH_RECALL, doc)
    finally:
        vectors.unpersist()
    recall = doc.get("recall")
    if doc.get("measured"):
        log.warning(
            "content neighbours (%s): recall@%d = %s over %s sample songs",
            method,
            ncfg.k,
            "n/a" if recall is None else f"{recall:.3f}",
            doc.get("songs", 0),
        )
    else:
        log.warning("content neighbours (%s): recall not measured (%s)", method, doc["note"])
    return {
        "rows": counts["rows"],
        "songs": counts["songs"],
        "method": method,
        f"recall@{ncfg.k}": None if recall is None else round(recall, 4),
    }


def _no_vectors(
    spark: SparkSession, wh: Warehouse, run_id: str, ncfg: NeighboursConfig
) -> dict[str, Any]:
    """An empty ``content_neighbours`` and a recall document that says why."""
    empty = spark.createDataFrame([], S.NEIGHBOURS_SCHEMA)
    wh.write_table(empty, run_id, S.CONTENT_NEIGHBOURS)
    reason = "neighbours: content_vectors is empty, so there are no content neighbours"
    doc = {
        "method": ncfg.method,
        "k": ncfg.k,
        "recall": None,
        "measured": False,
        "note": "no content vectors",
        KEY: [reason],
    }
    wh.write_json(run_id, S.LSH_RECALL, doc)
    return {"rows": 0, "songs": 0, "method": ncfg.method, f"recall@{ncfg.k}": None, KEY: [reason]}
