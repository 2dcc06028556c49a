"""The hybrid step: model outputs -> user_candidates, user_recommendations, similar_songs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.models.hybrid import (
    Signals,
    neighbour_relation,
    recommend,
    similar_songs,
)
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Read the run's model outputs, write user_candidates, user_recommendations, similar_songs."""
    wh = Warehouse.from_config(cfg)
    interactions = wh.read_table(spark, run_id, S.INTERACTIONS)
    users = wh.read_table(spark, run_id, S.USERS)
    songs = wh.read_table(spark, run_id, S.SONGS).persist(StorageLevel.MEMORY_AND_DISK)
    cf_topn = wh.read_table(spark, run_id, S.CF_USER_TOPN)
    cf_nbrs = wh.read_table(spark, run_id, S.CF_NEIGHBOURS)
    content_nbrs = wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS)
    relation = neighbour_relation(cf_nbrs, content_nbrs)
    signals = Signals(
        wh.read_table(spark, run_id, S.USER_FACTORS),
        wh.read_table(spark, run_id, S.ITEM_FACTORS),
        wh.read_table(spark, run_id, S.CONTENT_VECTORS).select(S.SONG, S.FEATURES),
    )
    candidates, recommendations = recommend(
        interactions, users, songs, cf_topn, relation, cfg.hybrid, signals
    )
    wh.write_table(candidates, run_id, S.USER_CANDIDATES)
    wh.write_table(recommendations, run_id, S.USER_RECOMMENDATIONS)
    similar = similar_songs(
        songs, cf_nbrs, content_nbrs, cfg.hybrid.similar_k, cfg.hybrid.similar_alpha
    )
    wh.write_table(similar, run_id, S.SIMILAR_SONGS)
    recs = wh.read_table(spark, run_id, S.USER_RECOMMENDATIONS)
    stats = recs.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(S.USER).alias("users"),
        F.countDistinct(S.SONG).alias("songs"),
    ).first()
    return {
        "user_recommendations": stats["rows"],
        "users": stats["users"],
        "distinct_songs": stats["songs"],
        "similar_songs": wh.read_table(spark, run_id, S.SIMILAR_SONGS).count(),
    }
