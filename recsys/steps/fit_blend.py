"""The fit-blend step: the hybrid's blend chosen on a validation split of the run's own plays.

With ``hybrid.fit.mode: fitted`` (the default) the evaluation's split is taken, validation
users (never the evaluation's) hide a share of their plays, ALS and the item-based model are
refitted once on what is left, and every blend of the grid is scored on the validation plays
(recsys.evaluation.blend_fit). The refits' factors and co-play neighbours are written so the
evaluate step scores with them instead of refitting. With ``fixed`` the configured blend is
recorded and nothing is fitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel

from recsys import schemas as S
from recsys.errors import WarehouseError
from recsys.evaluation import blend_fit, protocol
from recsys.models.als import AlsRecommender, neighbours_from_factors, released_rdds
from recsys.models.hybrid import HybridRecommender
from recsys.models.itemknn import ItemKNNRecommender
from recsys.storage import files
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config, HybridConfig


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Write ``blend.json`` (and, fitted, the refits' ``holdout_*`` factors and neighbours)."""
    wh = Warehouse.from_config(cfg)
    if cfg.hybrid.fit.mode == "fixed":
        wh.write_json(run_id, S.BLEND, blend_fit.fixed_blend(cfg.hybrid))
        return {"mode": "fixed", "alpha": cfg.hybrid.alpha}
    interactions = wh.read_table(spark, run_id, S.INTERACTIONS).select(S.USER, S.SONG, S.PLAYS)
    songs = wh.read_table(spark, run_id, S.SONGS).persist(StorageLevel.MEMORY_AND_DISK)
    held = protocol.split(interactions, cfg)
    itemknn = None
    try:
        with released_rdds(spark):
            refit = AlsRecommender(cfg.als).fit(held.fit_plays)
            wh.write_table(refit.user_factors, run_id, S.HOLDOUT_USER_FACTORS)
            wh.write_table(refit.item_factors, run_id, S.HOLDOUT_ITEM_FACTORS)
            holdout_items = wh.read_table(spark, run_id, S.HOLDOUT_ITEM_FACTORS)
            wh.write_table(
                neighbours_from_factors(holdout_items, cfg.als), run_id, S.HOLDOUT_CF_NEIGHBOURS
            )
        knn = ItemKNNRecommender(cfg.itemknn).fit(held.fit_plays)
        try:
            wh.write_table(knn.similar_items(cfg.itemknn.k), run_id, S.HOLDOUT_COPLAY_NEIGHBOURS)
        finally:
            knn.release()
        itemknn = holdout_itemknn(wh, spark, run_id, cfg, held.fit_plays)
        if held.validation_users.limit(1).count() == 0:
            doc = blend_fit.fixed_blend(cfg.hybrid)
            doc.update(
                mode="fitted",
                note="no validation users (too few users with "
                f"{cfg.evaluation.min_user_songs}+ songs): the configured blend is used",
            )
        else:
            als = AlsRecommender.from_factors(
                cfg.als,
                held.fit_plays,
                wh.read_table(spark, run_id, S.HOLDOUT_USER_FACTORS),
                wh.read_table(spark, run_id, S.HOLDOUT_ITEM_FACTORS),
                neighbours=wh.read_table(spark, run_id, S.HOLDOUT_CF_NEIGHBOURS),
            )
            model = HybridRecommender(
                cfg.hybrid,
                songs,
                als,
                wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS),
                wh.read_table(spark, run_id, S.CONTENT_VECTORS),
                itemknn=itemknn if any(w > 0 for w in cfg.hybrid.fit.item_weights) else None,
            ).fit(held.fit_plays)
            try:
                doc = blend_fit.fit_blend(
                    model,
                    held.validation_users,
                    held.validation,
                    held.depth,
                    cfg.publish.gate_metric,
                )
            finally:
                model.release()
    finally:
        if itemknn is not None:
            itemknn.release()
        held.release()
        songs.unpersist()
    doc["split"] = protocol.split_settings(cfg)  # evaluate checks its own against it
    wh.write_json(run_id, S.BLEND, doc)
    chosen = doc["chosen"]
    return {
        "mode": "fitted",
        "alpha": chosen["alpha"],
        "popularity_exponent": chosen["popularity_exponent"],
        "item_weight": chosen["item_weight"],
        "popularity_weight": chosen["popularity_weight"],
        "alpha_curve": "yes" if chosen["alpha_curve"] else "no",
        doc.get("metric", "value"): round(doc.get("value", float("nan")), 4),
    }


def holdout_itemknn(
    wh: Warehouse, spark: SparkSession, run_id: str, cfg: Config, plays
) -> ItemKNNRecommender:
    """The item-based refit this step wrote (fitted on ``plays``, the split's fit plays)."""
    return ItemKNNRecommender.from_neighbours(
        cfg.itemknn, plays, wh.read_table(spark, run_id, S.HOLDOUT_COPLAY_NEIGHBOURS)
    )


def run_blend(wh: Warehouse, run_id: str, cfg: Config) -> tuple[HybridConfig, dict[str, Any]]:
    """The hybrid config with the run's blend, and its ``blend.json`` (for hybrid, evaluate).

    A fitted blend must have been written by this step; a fixed one is the config's.
    """
    if cfg.hybrid.fit.mode == "fixed":
        return cfg.hybrid, blend_fit.fixed_blend(cfg.hybrid)
    if not files.exists(wh.doc_uri(run_id, S.BLEND)):
        raise WarehouseError(
            f"{S.BLEND} of run {run_id!r} is missing at {wh.doc_uri(run_id, S.BLEND)}: run the "
            "fit-blend step first (or set hybrid.fit.mode=fixed)"
        )
    doc = wh.read_json(run_id, S.BLEND)
    return blend_fit.apply_blend(cfg.hybrid, doc), doc
