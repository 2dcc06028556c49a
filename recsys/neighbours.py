"""The ``neighbours`` step: song-to-song content neighbours and their measured LSH recall."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys import lsh
from recsys import schemas as S
from recsys.warehouse import Warehouse

if TYPE_CHECKING:
    from recsys.config import Config, NeighboursConfig

log = logging.getLogger(__name__)


def content_neighbours(vectors: DataFrame, ncfg: NeighboursConfig) -> DataFrame:
    """Top ``ncfg.k`` content neighbours per song by the configured method (lsh or exact)."""
    if ncfg.method == "exact":
        return lsh.exact_neighbours(
            vectors,
            ncfg.k,
            query_block_rows=ncfg.query_block_rows,
            candidate_block_rows=ncfg.candidate_block_rows,
        )
    return lsh.lsh_neighbours(
        vectors,
        ncfg.k,
        ncfg.bucket_length,
        ncfg.num_hash_tables,
        ncfg.max_candidates,
        ncfg.seed,
        hashes_per_table=ncfg.hashes_per_table,
        min_similarity=ncfg.min_similarity,
    )


def measure_recall(
    vectors: DataFrame, neighbours: DataFrame, ncfg: NeighboursConfig
) -> dict[str, Any]:
    """LSH recall@K against brute force on ``ncfg.recall_sample`` seeded sample songs."""
    started = time.perf_counter()
    sample = lsh.sample_songs(vectors, ncfg.recall_sample, ncfg.seed)
    exact = lsh.exact_neighbours(
        vectors,
        ncfg.k,
        queries=sample,
        query_block_rows=ncfg.query_block_rows,
        candidate_block_rows=ncfg.candidate_block_rows,
    )
    # The exact search keeps no similarity floor, so compare against the neighbours LSH may
    # return at all: exact ones at or above min_similarity.
    exact = exact.where(F.col(S.SIMILARITY) >= F.lit(ncfg.min_similarity - 1e-6))
    result = lsh.lsh_recall(neighbours, exact, ncfg.k)
    result["exact_sample_seconds"] = round(time.perf_counter() - started, 2)
    return result


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
        started = time.perf_counter()
        wh.write_table(content_neighbours(vectors, ncfg), run_id, S.CONTENT_NEIGHBOURS)
        seconds = round(time.perf_counter() - started, 2)
        written = wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS)
        counts = written.agg(
            F.count(F.lit(1)).alias("rows"), F.countDistinct(S.SONG).alias("songs")
        ).first()
        doc: dict[str, Any] = {
            "method": ncfg.method,
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
        if ncfg.method == "exact":
            doc.update(recall=1.0, measured=False, note="exact neighbours: recall 1 by definition")
        elif ncfg.recall_sample == 0:
            doc.update(recall=None, measured=False, note="neighbours.recall_sample is 0")
        else:
            doc.update(measure_recall(vectors, written, ncfg), measured=True)
        wh.write_json(run_id, S.LSH_RECALL, doc)
    finally:
        vectors.unpersist()
    recall = doc.get("recall")
    log.warning(
        "content neighbours (%s): recall@%d = %s over %s sample songs",
        ncfg.method,
        ncfg.k,
        "n/a" if recall is None else f"{recall:.3f}",
        doc.get("songs", 0),
    )
    return {
        "rows": counts["rows"],
        "songs": counts["songs"],
        "method": ncfg.method,
        f"recall@{ncfg.k}": None if recall is None else round(recall, 4),
    }
