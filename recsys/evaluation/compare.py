"""Comparing models and metric code: paired per-user differences with their interval, and a
cross-check of our ranking metrics against Spark ML's ``RankingEvaluator``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import EvaluationError
from recsys.evaluation.checks import check_ks, metric_key
from recsys.evaluation.metrics import POSITION, _relevant, top_positions
from recsys.evaluation.scoring import difference_aggs, difference_figures


def paired_difference(
    model: DataFrame,
    baseline: DataFrame,
    ks: Iterable[int],
    metrics: Sequence[str] = (S.METRIC_NDCG, S.METRIC_RECALL),
) -> dict[str, dict[str, float]]:
    """``model`` minus ``baseline``, user by user, for each metric at each K.

    Both are :func:`per_user_ranking_metrics` of lists scored on the same held-out users (with
    at least these ``ks``), so the per-user differences are paired (one model's per-user frame
    can be persisted and compared with several baselines). Returns
    ``{"ndcg@10": {"mean", "ci95", "n_users", "better", "worse"}, ...}`` where ``mean`` is the
    mean difference (equal to the difference of the two means), ``ci95`` the half-width
    of its normal-approximation 95% interval (1.96 standard errors), and ``better`` / ``worse``
    the users for whom the model scores higher / lower.
    """
    ks = check_ks(ks)
    names = [(m, k) for k in ks for m in metrics]
    cols = [f"{m}_at_{k}" for m, k in names]
    joined = model.select(S.USER, *[F.col(c).alias("a_" + c) for c in cols]).join(
        baseline.select(S.USER, *[F.col(c).alias("b_" + c) for c in cols]), S.USER
    )
    row = joined.agg(*difference_aggs(cols)).first()
    if int(row["n"]) == 0:
        raise EvaluationError("held_out: no evaluated users (the held-out table is empty)")
    return difference_figures(row, names, cols)


def ranking_evaluator_metrics(
    recommendations: DataFrame,
    held_out: DataFrame,
    ks: Iterable[int],
    *,
    user_col: str = S.USER,
    item_col: str = S.SONG,
    rank_col: str = S.RANK,
) -> dict[str, float]:
    """The same ``metric@k`` keys as :func:`ranking_metrics`, computed by Spark ML.

    Uses ``pyspark.ml.evaluation.RankingEvaluator`` on per-user arrays of ``double`` ids
    (ordered by position, de-duplicated, one row per evaluated user, empty when the user has no
    recommendations), to check our metric code against Spark's.
    """
    from pyspark.ml.evaluation import RankingEvaluator

    ks = check_ks(ks)
    relevant = _relevant(held_out, user_col, item_col)
    evaluated = recommendations.join(relevant.select(user_col).distinct(), user_col, "left_semi")
    top = top_positions(evaluated, max(ks), user_col=user_col, item_col=item_col, rank_col=rank_col)
    doubles = T.ArrayType(T.DoubleType())
    predictions = top.groupBy(user_col).agg(
        F.transform(
            F.sort_array(F.collect_list(F.struct(POSITION, item_col))),
            lambda item: item[item_col].cast("double"),
        ).alias("prediction")
    )
    labels = relevant.groupBy(user_col).agg(
        F.collect_list(F.col(item_col).cast("double")).alias("label")
    )
    table = (
        labels.join(predictions, user_col, "left")
        .select(
            F.coalesce(F.col("prediction"), F.array().cast(doubles)).alias("prediction"),
            F.col("label").cast(doubles).alias("label"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    spark_names = {
        S.METRIC_PRECISION: "precisionAtK",
        S.METRIC_RECALL: "recallAtK",
        S.METRIC_NDCG: "ndcgAtK",
        S.METRIC_MAP: "meanAveragePrecisionAtK",
    }
    evaluator = RankingEvaluator(predictionCol="prediction", labelCol="label")
    try:
        return {
            metric_key(metric, k): evaluator.evaluate(
                table, {evaluator.metricName: spark_names[metric], evaluator.k: k}
            )
            for k in ks
            for metric in S.RANKING_METRICS
        }
    finally:
        table.unpersist()


def compare_metrics(
    ours: Mapping[str, float], theirs: Mapping[str, float], tolerance: float = 1e-9
) -> list[str]:
    """Keys present in both whose values differ by more than ``tolerance``, described."""
    return [
        f"{key}: ours {ours[key]:.12g}, theirs {theirs[key]:.12g}"
        for key in sorted(set(ours) & set(theirs))
        if not math.isclose(ours[key], theirs[key], rel_tol=0.0, abs_tol=tolerance)
    ]
