"""Every list of an evaluation scored in one pass: the ranking metrics of each user of each list
in one table, and every mean, interval, paired difference, coverage and diversity read from it.

Scoring each model's list on its own (and again for the paired comparisons, and again for each
alpha of the sweep) ran the same small queries a dozen times a model: a few hundred stages,
which at the evaluation's bounded sample are fixed costs, not work (tiny data: 140 s of a
190 s evaluate). Here the lists are one labelled table: one shuffle orders every list, one join
finds every hit, and each figure is one aggregation over the per-user table grouped by list.
The definitions are :mod:`recsys.evaluation.metrics`' (the same column expressions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import EvaluationError
from recsys.evaluation.checks import check_columns, check_ks, metric_key
from recsys.evaluation.diversity import diversity_by_list

LIST = "_list"  # which list of the evaluation a row belongs to
_LEVEL = StorageLevel.MEMORY_AND_DISK


@dataclass
class Scored:
    """``per_user``: ``(_list, user, n_relevant, <metric>_at_<k>...)`` for every evaluated user
    of every list (a user without recommendations scores 0); ``top``: ``(_list, user, song,
    position)``, each list's first ``max(ks)`` distinct songs. Both persisted; ``release``."""

    per_user: DataFrame
    top: DataFrame
    labels: list[str]
    ks: list[int]
    user_col: str
    item_col: str

    def release(self) -> None:
        for df in (self.per_user, self.top):
            _drop(df)


def _materialise(df: DataFrame) -> DataFrame:
    """``df`` persisted and computed now, as a frame whose plan is a scan of the cached rows.

    Persisting alone is not enough here: the union of every model's list carries every model's
    plan (the hybrid's blocks, the sweep's rankings), and Spark analyses and optimises that
    whole plan again for each query on a persisted frame before it finds the cached data (on
    the tiny data 50-90 s a query, against under a second here). The frame returned wraps the
    cached frame's rows (``LogicalRDD``, as ``Dataset.checkpoint`` builds), so a query plans
    a scan; unlike a local checkpoint, a lost executor's blocks are recomputed from the cached
    frame's lineage. The cache is bounded by the evaluation's sample (lists x users x depth
    rows); ``_drop`` frees it. ``internalCreateDataFrame`` is Spark's own (``private[sql]``,
    Spark 3.5's signature); ``tests/unit/test_scoring.py`` checks the plan and the lineage."""
    kept = df.persist(_LEVEL)
    kept.count()  # builds every cached column
    jdf = kept.select("*")._jdf  # a new query, planned over the cache
    shallow = kept.sparkSession._jsparkSession.internalCreateDataFrame(
        jdf.queryExecution().toRdd(), jdf.schema(), False
    )
    out = DataFrame(shallow, kept.sparkSession)
    out._recsys_kept = kept  # what _drop unpersists
    return out


def _drop(df: DataFrame) -> None:
    """Free the cache behind a :func:`_materialise` frame."""
    df._recsys_kept.unpersist()


def score_lists(
    lists: Mapping[str, DataFrame],
    held_out: DataFrame,
    ks: Sequence[int],
    *,
    user_col: str = S.USER,
    item_col: str = S.SONG,
    rank_col: str = S.RANK,
) -> Scored:
    """Score every list of ``lists`` (label -> ``(user, song, rank)``) on the users of
    ``held_out`` at each of ``ks``."""
    from recsys.evaluation.metrics import per_user_from_top, relevant_pairs, top_positions_by

    if not lists:
        raise EvaluationError("lists: expected at least one list to score")
    ks = check_ks(ks)
    relevant = relevant_pairs(held_out, user_col, item_col).persist(_LEVEL)
    users = relevant.select(user_col).distinct()
    labelled = None
    for label, recs in lists.items():
        check_columns(recs, f"recommendations of {label}", user_col, item_col, rank_col)
        part = recs.select(
            F.lit(label).alias(LIST),
            F.col(user_col),
            F.col(item_col),
            F.col(rank_col).cast(T.DoubleType()).alias(rank_col),
        ).join(users, user_col, "left_semi")
        labelled = part if labelled is None else labelled.unionByName(part)
    top = top_positions_by(labelled, max(ks), [LIST, user_col], item_col, rank_col)
    top = _materialise(top)
    names = top.sparkSession.createDataFrame([(label,) for label in lists], f"{LIST} string")
    per_user = per_user_from_top(top, relevant, ks, [LIST, user_col], item_col, F.broadcast(names))
    per_user = _materialise(per_user)
    relevant.unpersist()
    return Scored(per_user, top, list(lists), ks, user_col, item_col)


def means(scored: Scored, metrics: Sequence[str] = S.RANKING_METRICS) -> dict[str, dict]:
    """``{label: {"ndcg@10": {"mean", "ci95", "n_users"}, ...}}`` for every list: the mean over
    its evaluated users with the half-width of its normal-approximation 95% interval."""
    names = [(m, k) for k in scored.ks for m in metrics]
    aggs = [F.count("*").alias("n")]
    for m, k in names:
        c = f"{m}_at_{k}"
        aggs += [F.avg(c).alias("mean_" + c), F.stddev_samp(c).alias("sd_" + c)]
    rows = {r[LIST]: r for r in scored.per_user.groupBy(LIST).agg(*aggs).collect()}
    if not rows:
        raise EvaluationError("held_out: no evaluated users (the held-out table is empty)")
    out: dict[str, dict] = {}
    for label, row in rows.items():
        n = int(row["n"])
        out[label] = {
            metric_key(m, k): interval(row["mean_" + c], row["sd_" + c], n)
            for m, k in names
            for c in [f"{m}_at_{k}"]
        }
    return out


def difference_aggs(cols: Sequence[str]) -> list:
    """Aggregations of the paired differences ``a_<c> - b_<c>`` of each column: the users
    (``n``), and per column the mean, sample deviation and users better and worse."""
    aggs = [F.count("*").alias("n")]
    for c in cols:
        d = F.col("a_" + c) - F.col("b_" + c)
        aggs += [
            F.avg(d).alias("mean_" + c),
            F.stddev_samp(d).alias("sd_" + c),
            F.sum((d > 0).cast("int")).alias("better_" + c),
            F.sum((d < 0).cast("int")).alias("worse_" + c),
        ]
    return aggs


def difference_figures(row, names, cols) -> dict[str, dict[str, float]]:
    """``{"ndcg@10": {"mean", "ci95", "n_users", "better", "worse"}}`` from a row of
    :func:`difference_aggs` (``names``: the ``(metric, k)`` of each column)."""
    n = int(row["n"])
    return {
        metric_key(m, k): {
            **interval(row["mean_" + c], row["sd_" + c], n),
            "better": int(row["better_" + c]),
            "worse": int(row["worse_" + c]),
        }
        for (m, k), c in zip(names, cols, strict=True)
    }


def interval(mean: float, sd: float | None, n: int) -> dict[str, float]:
    """A mean over ``n`` users with the half-width of its normal-approximation 95% interval
    (1.96 standard errors; NaN for one user)."""
    ci = float(1.96 * sd / math.sqrt(n)) if sd is not None else float("nan")
    return {"mean": float(mean), "ci95": ci, "n_users": n}


def paired(
    scored: Scored,
    model: str,
    ks: Sequence[int],
    metrics: Sequence[str] = (S.METRIC_NDCG, S.METRIC_RECALL),
) -> dict[str, dict[str, dict[str, float]]]:
    """``model`` minus every other list, user by user, in one aggregation:
    ``{other: {"ndcg@10": {"mean", "ci95", "n_users", "better", "worse"}}}`` (as
    :func:`recsys.evaluation.compare.paired_difference`)."""
    ks = check_ks(ks)
    names = [(m, k) for k in ks for m in metrics]
    cols = [f"{m}_at_{k}" for m, k in names]
    user = scored.user_col
    per_user = scored.per_user
    mine = per_user.where(F.col(LIST) == model).select(
        user, *[F.col(c).alias("a_" + c) for c in cols]
    )
    others = per_user.where(F.col(LIST) != model).select(
        LIST, user, *[F.col(c).alias("b_" + c) for c in cols]
    )
    rows = others.join(mine, user).groupBy(LIST).agg(*difference_aggs(cols)).collect()
    out = {row[LIST]: difference_figures(row, names, cols) for row in rows}
    return {label: out[label] for label in scored.labels if label in out}


def coverage(
    scored: Scored, labels: Sequence[str], ks: Sequence[int], catalogue_size: int
) -> dict[str, dict[str, float]]:
    """``{label: {"coverage@k": distinct songs in anyone's top k / catalogue size}}``."""
    from recsys.evaluation.metrics import POSITION

    item = scored.item_col
    counts = [F.count_distinct(F.when(F.col(POSITION) <= k, F.col(item))).alias(str(k)) for k in ks]
    rows = scored.top.where(F.col(LIST).isin(*labels)).groupBy(LIST).agg(*counts).collect()
    found = {
        r[LIST]: {metric_key(S.METRIC_COVERAGE, k): r[str(k)] / catalogue_size for k in ks}
        for r in rows
    }
    zero = {metric_key(S.METRIC_COVERAGE, k): 0.0 for k in ks}
    return {label: found.get(label, zero) for label in labels}


def diversity(
    scored: Scored,
    labels: Sequence[str],
    item_vectors: DataFrame,
    ks: Sequence[int],
    vector_col: str = S.FEATURES,
) -> dict[str, dict[str, float]]:
    """``{label: {"diversity@k": mean intra-list diversity}}``, left out where undefined."""
    from recsys.evaluation.metrics import POSITION

    check_columns(item_vectors, "item_vectors", scored.item_col, vector_col)
    top = scored.top.where(F.col(LIST).isin(*labels) & (F.col(POSITION) <= max(ks)))
    found = diversity_by_list(
        top, item_vectors, ks, LIST, scored.user_col, scored.item_col, vector_col, POSITION
    )
    return {
        label: {
            metric_key(S.METRIC_DIVERSITY, k): v
            for k, v in found.get(label, {}).items()
            if v is not None
        }
        for label in labels
    }
