"""The hybrid step: model outputs -> user_candidates, user_recommendations, similar_songs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.models.als import AlsRecommender
from recsys.models.hybrid import HybridRecommender
from recsys.models.itemknn import ItemKNNRecommender
from recsys.steps.degradations import HYBRID_SUMMARY, KEY
from recsys.steps.fit_blend import run_blend
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from recsys.config import Config, HybridConfig


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Read the run's model outputs, write user_candidates, user_recommendations, similar_songs."""
    wh = Warehouse.from_config(cfg)
    interactions = wh.read_table(spark, run_id, S.INTERACTIONS)
    songs = wh.read_table(spark, run_id, S.SONGS).persist(StorageLevel.MEMORY_AND_DISK)
    # ALS as train-als left it: its factors and the lists it already scored.
    als = AlsRecommender.from_factors(
        cfg.als,
        interactions,
        wh.read_table(spark, run_id, S.USER_FACTORS),
        wh.read_table(spark, run_id, S.ITEM_FACTORS),
        top_n=wh.read_table(spark, run_id, S.CF_USER_TOPN),
        neighbours=wh.read_table(spark, run_id, S.CF_NEIGHBOURS),
    )
    hybrid_cfg, blend = run_blend(wh, run_id, cfg)
    coplay = wh.read_table(spark, run_id, S.COPLAY_NEIGHBOURS)
    # The item-based model joins the pool only when the blend gives it a share: with none the
    # lists are exactly ALS's and content's.
    itemknn = (
        ItemKNNRecommender.from_neighbours(cfg.itemknn, interactions, coplay)
        if hybrid_cfg.item_weight > 0
        else None
    )
    model = HybridRecommender(
        hybrid_cfg,
        songs,
        als,
        wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS),
        wh.read_table(spark, run_id, S.CONTENT_VECTORS),
        itemknn=itemknn,
        coplay=coplay,
    ).fit(interactions)
    try:
        # The lists come out of blocks of range-partitioned users: written clustered by user
        # with no shuffle of their rows; names and reasons join them where they are.
        candidates, recommendations = model.undecorated_tables()
        for frame, table in (
            (candidates, S.USER_CANDIDATES),
            (recommendations, S.USER_RECOMMENDATIONS),
        ):
            wh.write_table(frame, run_id, table, decorate=model.decorate, ranged=True)
        wh.write_table(model.similar_songs(), run_id, S.SIMILAR_SONGS)
    finally:
        model.release()
        if itemknn is not None:
            itemknn.release()
        songs.unpersist()
    recs = wh.read_table(spark, run_id, S.USER_RECOMMENDATIONS)
    stats = recs.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct(S.USER).alias("users"),
        F.countDistinct(S.SONG).alias("songs"),
    ).first()
    summary = {
        "user_recommendations": stats["rows"],
        "users": stats["users"],
        "distinct_songs": stats["songs"],
        "similar_songs": wh.read_table(spark, run_id, S.SIMILAR_SONGS).count(),
        "blend": f"{blend['mode']} alpha={hybrid_cfg.alpha:g} "
        f"popularity_exponent={hybrid_cfg.popularity_exponent:g} "
        f"item_weight={hybrid_cfg.item_weight:g} "
        f"popularity_weight={hybrid_cfg.popularity_weight:g}"
        + (" with an alpha curve" if hybrid_cfg.alpha_curve else ""),
    }
    summary.update(content_reach(wh.read_table(spark, run_id, S.USER_CANDIDATES)))
    has_vectors = bool(wh.read_table(spark, run_id, S.CONTENT_VECTORS).take(1))
    summary[KEY] = hybrid_degradations(summary, has_vectors, hybrid_cfg)
    wh.write_json(run_id, HYBRID_SUMMARY, summary)
    return summary


def content_reach(candidates: DataFrame) -> dict[str, int]:
    """Users whose candidates have some content score, and candidates that have one."""
    has_content = F.col(S.CONTENT_SCORE) > 0
    row = candidates.agg(
        F.countDistinct(F.when(has_content, F.col(S.USER))).alias("users_with_content"),
        F.count(F.when(has_content, 1)).alias("candidates_with_content"),
    ).first()
    return {k: int(v) for k, v in row.asDict().items()}


def hybrid_degradations(
    summary: dict[str, Any], has_vectors: bool, hybrid_cfg: HybridConfig | None = None
) -> list[str]:
    """Whether the lists blend content: with no content score anywhere they are the
    collaborative lists (ALS's, with the item-based and popularity shares where the blend has
    them)."""
    if summary["candidates_with_content"]:
        return []
    parts = ["ALS"]
    if hybrid_cfg is not None and hybrid_cfg.item_weight > 0:
        parts.append("item-based")
    if hybrid_cfg is not None and hybrid_cfg.popularity_weight > 0:
        parts.append("popularity")
    why = (
        "there are no content vectors"
        if not has_vectors
        else "no song a user played has a content neighbour or vector"
    )
    return [
        f"hybrid: {why}, so every list is the collaborative ({' + '.join(parts)}) list with "
        "its reasons, and "
        "similar_songs holds collaborative neighbours only"
    ]
