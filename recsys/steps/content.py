"""The content step: songs, lyrics and vocabulary -> content_vectors, lda_topics and the models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.features.vectors import build_content
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from recsys.config import Config


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """The ``content`` step: read ingest's tables, write ``content_vectors`` and ``lda_topics``.

    The fitted models are saved under the run's ``models/`` as ``idf``, ``w2v``, ``lda`` and
    ``pca`` (those not fitted, the lyric ones when no song has lyrics, are not written).
    """
    wh = Warehouse.from_config(cfg)
    lyrics = wh.read_table(spark, run_id, S.LYRICS)
    vocabulary = wh.read_table(spark, run_id, S.VOCABULARY)
    songs = wh.read_table(spark, run_id, S.SONGS)
    result = build_content(lyrics, vocabulary, songs, cfg.content)
    try:
        wh.write_table(result.vectors, run_id, S.CONTENT_VECTORS)
        wh.write_table(result.lda_topics, run_id, S.LDA_TOPICS)
        for name, model in result.models.items():
            model.write().overwrite().save(wh.spark_path(wh.model_uri(run_id, name)))
        written = wh.read_table(spark, run_id, S.CONTENT_VECTORS)
        by_source = {
            row[S.CONTENT_SOURCE]: row["n"]
            for row in written.groupBy(S.CONTENT_SOURCE).agg(F.count(F.lit(1)).alias("n")).collect()
        }
    finally:
        result.unpersist()
    return {
        "songs": sum(by_source.values()),
        **{f"source_{k}": v for k, v in sorted(by_source.items())},
        **result.summary,
    }
