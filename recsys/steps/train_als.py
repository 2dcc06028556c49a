"""The train-als step: interactions -> factors, model, params, cf_user_topn, cf_neighbours."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from recsys import schemas as S
from recsys.evaluation.tuning import tune_als
from recsys.models.als import AlsRecommender, als_params, released_rdds
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Fit ALS (after the grid search when ``als.tuning.enabled``), write its tables."""
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
        fitted = AlsRecommender(als_cfg).fit(interactions)
        fit_seconds = time.perf_counter() - started
        warehouse.write_table(fitted.user_factors, run_id, S.USER_FACTORS)
        warehouse.write_table(fitted.item_factors, run_id, S.ITEM_FACTORS)
        if fitted.model is not None:  # als.solver spark: its ALSModel too
            fitted.model.write().overwrite().save(
                warehouse.spark_path(warehouse.model_uri(run_id, S.ALS_MODEL))
            )

    # Score from the written tables: exactly what was published, with a short lineage.
    users = warehouse.read_table(spark, run_id, S.USER_FACTORS)
    items = warehouse.read_table(spark, run_id, S.ITEM_FACTORS)
    model = AlsRecommender.from_factors(als_cfg, interactions, users, items)
    started = time.perf_counter()
    warehouse.write_table(model.recommend(None, als_cfg.top_n), run_id, S.CF_USER_TOPN)
    topn_seconds = time.perf_counter() - started
    started = time.perf_counter()
    warehouse.write_table(model.similar_items(als_cfg.neighbours_k), run_id, S.CF_NEIGHBOURS)
    neighbours_seconds = time.perf_counter() - started

    from recsys.session import blas_in_use, numpy_blas

    blas = blas_in_use(spark)
    if als_cfg.solver == "blocks":  # it solves in numpy on the executors: numpy's BLAS
        blas = {**blas, "spark_ml": blas["in_use"], "in_use": f"numpy: {numpy_blas(spark)}"}
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
            "blas": blas,
            **counts,
        },
    )
    return {
        **counts,
        **summary,
        "blas": blas["in_use"],
        "fit_s": round(fit_seconds, 1),
        "topn_s": round(topn_seconds, 1),
        "neighbours_s": round(neighbours_seconds, 1),
    }
