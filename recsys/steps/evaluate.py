"""The evaluate step: every model of the run against baselines on held-out plays."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.evaluation import metrics as evaluation
from recsys.evaluation.protocol import MODELS, comparison_markdown, model_lists, summarise
from recsys.models import hybrid
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config


def run(spark: SparkSession, cfg: Config, run_id: str) -> dict[str, Any]:
    """Write the run's ``metrics`` table, ``evaluation.json`` and ``evaluation.md``."""
    wh = Warehouse.from_config(cfg)
    interactions = wh.read_table(spark, run_id, S.INTERACTIONS)
    users = wh.read_table(spark, run_id, S.USERS)
    songs = wh.read_table(spark, run_id, S.SONGS).persist(StorageLevel.MEMORY_AND_DISK)
    content_nbrs = wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS)
    vectors = wh.read_table(spark, run_id, S.CONTENT_VECTORS).select(S.SONG, S.FEATURES)
    catalogue = songs.count()
    ks = cfg.evaluation.ks

    lists, pool, test, depth = model_lists(interactions, users, songs, content_nbrs, vectors, cfg)
    metrics = evaluation.evaluate_models(
        lists, test, ks, catalogue, vectors, map_tau=cfg.evaluation.map_tau or None
    )
    sweep = []
    h = cfg.hybrid
    for alpha in cfg.evaluation.alpha_sweep:
        ranked = hybrid.rank_candidates(
            pool, h.novelty, h.max_per_artist, depth, alpha, h.popularity_exponent, h.cold_slots
        )
        sweep.append(
            evaluation.evaluate_models(
                {"hybrid": ranked}, test, ks, catalogue, map_tau=None, alpha=float(alpha)
            ).filter(F.col("metric").isin("precision", "recall", "ndcg", "map"))
        )
    for part in sweep:
        metrics = metrics.unionByName(part)
    metrics = S.to_schema(metrics, S.METRICS_SCHEMA)
    wh.write_table(metrics.coalesce(1), run_id, S.METRICS)  # a few hundred rows at most

    rows = [r.asDict() for r in wh.read_table(spark, run_id, S.METRICS).collect()]
    stats = test.agg(
        F.countDistinct(S.USER).alias("users"), F.count(F.lit(1)).alias("plays")
    ).first()
    summary = summarise(rows)
    # the hybrid's per-user metrics once, compared with each other model's
    hybrid_per_user = evaluation.per_user_ranking_metrics(lists["hybrid"], test, ks).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    comparisons = {
        other: evaluation.paired_difference(
            hybrid_per_user, evaluation.per_user_ranking_metrics(lists[other], test, ks), ks
        )
        for other in MODELS
        if other != "hybrid"
    }
    hybrid_per_user.unpersist()
    report = {
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ks": list(ks),
        "list_depth": depth,
        "held_out_users": int(stats["users"]),
        "held_out_plays": int(stats["plays"]),
        "catalogue_songs": catalogue,
        "models": summary,
        "hybrid_vs": comparisons,
        "alpha_sweep": [
            {
                "alpha": r["alpha"],
                "metric": evaluation.metric_key(r["metric"], r["k"]),
                "value": r["value"],
            }
            for r in rows
            if r.get("alpha") is not None
        ],
        "split": {
            "holdout_user_fraction": cfg.evaluation.holdout_user_fraction,
            "holdout_play_fraction": cfg.evaluation.holdout_play_fraction,
            "min_user_songs": cfg.evaluation.min_user_songs,
            "seed": cfg.evaluation.seed,
        },
    }
    wh.write_json(run_id, S.EVALUATION_JSON, report)
    main_rows = [r for r in rows if r.get("alpha") is None]
    sweep_rows = [r for r in rows if r.get("alpha") is not None]
    markdown = (
        f"# Evaluation of run {run_id}\n\n"
        f"{report['held_out_users']} users hold out {report['held_out_plays']} plays; "
        f"every list is {depth} songs long (mAP@500 is computed on these lists).\n\n"
        + evaluation.report_markdown(main_rows)
        + comparison_markdown(comparisons)
        + (
            "\n## Alpha sweep (hybrid)\n\n" + evaluation.report_markdown(sweep_rows)
            if sweep_rows
            else ""
        )
    )
    wh.write_text(run_id, S.EVALUATION_MD, markdown)
    gate = cfg.publish.gate_metric
    return {
        "held_out_users": report["held_out_users"],
        **{f"{m}_{gate}": round(summary.get(m, {}).get(gate, float("nan")), 4) for m in MODELS},
    }
