"""The train-als step: interactions -> factors, model, params, cf_user_topn, cf_neighbours."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from recsys import schemas as S
from recsys.models.als import (
    als_params,
    fit_als,
    item_factors,
    neighbours_from_factors,
    released_rdds,
    tune_als,
    user_factors,
)
from recsys.similarity import topn

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """The train-als step: interactions -> factors, model, params, cf_user_topn, cf_neighbours."""
    from recsys.storage.warehouse import Warehouse

    warehouse = Warehouse.from_config(cfg)
    interactions = warehouse.read_table(spark, run_id, S.INTERACTIONS).select(
        S.USER, S.SONG, S.PLAYS
    )
    als_cfg = cfg.als
    summary: dict[str, Any] = {}
    if als_cfg.tuning.enabled:
        table = tune_als(interactions, als_cfg)
        warehouse.write_json(run_id, S.ALS_TUNING, table)
        best = {key: table["best"][key] for key in ("rank", "reg_param", "alpha")}
        als_cfg = dataclasses.replace(als_cfg, **best)
        summary["tuned"] = f"rank={best['rank']}/reg={best['reg_param']}/alpha={best['alpha']}"
        summary[table["metric"]] = table["best"][table["metric"]]

    with released_rdds(spark):
        started = time.perf_counter()
        model = fit_als(interactions, als_cfg)
        fit_seconds = time.perf_counter() - started
        warehouse.write_table(user_factors(model), run_id, S.USER_FACTORS)
        warehouse.write_table(item_factors(model), run_id, S.ITEM_FACTORS)
        model.write().overwrite().save(
            warehouse.spark_path(warehouse.model_uri(run_id, S.ALS_MODEL))
        )

    # Score from the written tables: exactly what was published, with a short lineage.
    users = warehouse.read_table(spark, run_id, S.USER_FACTORS)
    items = warehouse.read_table(spark, run_id, S.ITEM_FACTORS)
    started = time.perf_counter()
    recs = topn.recommend_top_n(
        users,
        items,
        interactions,
        als_cfg.top_n,
        block_size=als_cfg.block_size,
        block_memory_mb=als_cfg.block_memory_mb,
        partitions=als_cfg.score_partitions,
    )
    warehouse.write_table(recs, run_id, S.CF_USER_TOPN)
    topn_seconds = time.perf_counter() - started
    started = time.perf_counter()
    neighbours = neighbours_from_factors(items, als_cfg)
    warehouse.write_table(neighbours, run_id, S.CF_NEIGHBOURS)
    neighbours_seconds = time.perf_counter() - started

    counts = {
        "users": users.count(),
        "songs": items.count(),
        "topn_rows": warehouse.read_table(spark, run_id, S.CF_USER_TOPN).count(),
        "neighbour_rows": warehouse.read_table(spark, run_id, S.CF_NEIGHBOURS).count(),
    }
    warehouse.write_json(
        run_id,
        S.ALS_PARAMS,
        {
            "params": als_params(als_cfg),
            "tuned": als_cfg.tuning.enabled,
            "fit_seconds": round(fit_seconds, 2),
            "topn_seconds": round(topn_seconds, 2),
            "neighbours_seconds": round(neighbours_seconds, 2),
            **counts,
        },
    )
    return {
        **counts,
        **summary,
        "fit_s": round(fit_seconds, 1),
        "topn_s": round(topn_seconds, 1),
        "neighbours_s": round(neighbours_seconds, 1),
    }
