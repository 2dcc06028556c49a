"""The ``neighbours`` step: song-to-song content neighbours and their measured LSH recall."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.similarity import lsh, topn

if TYPE_CHECKING:
    from recsys.config import NeighboursConfig

log = logging.getLogger(__name__)


def content_neighbours(
    vectors: DataFrame, ncfg: NeighboursConfig, method: str | None = None
) -> DataFrame:
    """Top ``ncfg.k`` content neighbours per song by ``method`` (lsh or exact; default the
    configured one, ``auto`` resolved by the number of vectors)."""
    method = method or ncfg.method_for(vectors.count())
    if method == "exact":
        return topn.exact_neighbours(
            vectors, ncfg.k, block_size=ncfg.block_size, block_memory_mb=ncfg.block_memory_mb
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
    exact = topn.exact_neighbours(
        vectors,
        ncfg.k,
        queries=sample,
        block_size=ncfg.block_size,
        block_memory_mb=ncfg.block_memory_mb,
    )
    # The exact search keeps no similarity floor, so compare against the neighbours LSH may
    # return at all: exact ones at or above min_similarity.
    exact = exact.where(F.col(S.SIMILARITY) >= F.lit(ncfg.min_similarity - 1e-6))
    result = lsh.lsh_recall(neighbours, exact, ncfg.k)
    result["exact_sample_seconds"] = round(time.perf_counter() - started, 2)
    return result
