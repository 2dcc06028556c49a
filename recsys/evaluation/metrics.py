"""Offline evaluation: a held-out split by user, ranking and beyond-accuracy metrics.

Everything here is a pure function of DataFrames: nothing is read or written. Metrics are
computed per user with Spark built-ins (windows, array functions; diversity in numpy against
the listed songs' broadcast vectors) and averaged on the cluster;
only the final few numbers come back to the driver.

Definitions (binary relevance; a user's relevant set R is their held-out songs; the list is the
user's recommendations ordered by ``rank`` then ``song_idx``, duplicates counted once at their
best rank, positions 1, 2, ...; hit(i) = the song at position i is in R):

- precision@K = #hits in the top K / K (also when the list is shorter than K)
- recall@K    = #hits in the top K / |R|
- NDCG@K      = sum_{i<=K, hit(i)} 1/log2(i+1)  /  sum_{i<=min(|R|,K)} 1/log2(i+1)
- MAP@K       = sum_{i<=K, hit(i)} P@i  /  min(|R|, K), the truncated average precision of the
  Million Song Dataset Challenge (McFee et al., WWW 2012 companion: AP(u) = 1/n_u sum_{k<=tau}
  P_k(u) M(u, y(k)) with n_u the smaller of tau and the number of the user's held-out songs,
  tau = 500); ``map@500`` is this function at K = 500.

Each is averaged over the evaluated users, the users of the held-out table; a user without
recommendations scores 0. Beyond accuracy, on the same users' lists:

- coverage@K  = distinct songs in anyone's top K / catalogue size
- diversity@K = mean over users of the mean pairwise (1 - cosine) of the song vectors in the
  user's top K (songs without a vector, or with a zero vector, are left out; users with fewer
  than two vectors are left out of the mean). Range 0..2; 0 when all songs point one way.

Agreement with ``pyspark.ml.evaluation.RankingEvaluator`` (Spark 3.5, checked in the tests and
by :func:`ranking_evaluator_metrics`): precisionAtK, recallAtK, ndcgAtK and
meanAveragePrecisionAtK equal ours on lists without duplicates. Where they differ:

- Spark counts a song that appears twice in a list as two hits (precision and recall can then
  exceed what the list deserves); here a (user, song) pair counts once, at its best rank.
- Spark's untruncated ``meanAveragePrecision`` divides by |R|, not min(|R|, K); it is not
  reported here. Its ``meanAveragePrecisionAt(k)`` divides by min(|R|, k), like ours.
- Spark averages over the rows it is given, and its arrays carry order, not rank: the caller
  must add an empty prediction for every evaluated user without recommendations (the helper
  here does) and sort the arrays itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import EvaluationError
from recsys.evaluation import scoring
from recsys.evaluation.checks import check_catalogue_size, check_columns, check_ks, metric_key
from recsys.evaluation.diversity import diversity_from_top

POSITION = "position"  # 1-based place in a user's list, after ordering by rank then song
_N_RELEVANT = "n_relevant"
_POP_RANK = "pop_rank"
_N_SONGS = "n_songs"
_N_HIDDEN = "n_hidden"
_HIDDEN = "hidden"
_LISTENERS = "n_listeners"


# --------------------------------------------------------------------------- validation


# --------------------------------------------------------------------------- split


# --------------------------------------------------------------------------- baseline


# --------------------------------------------------------------------------- ranking metrics


def top_positions(
    recommendations: DataFrame,
    max_k: int,
    *,
    user_col: str = S.USER,
    item_col: str = S.SONG,
    rank_col: str = S.RANK,
) -> DataFrame:
    """``(user, song, position)`` for each user's first ``max_k`` distinct songs.

    Positions are 1, 2, ... in order of ``rank`` then ``song_idx``: gaps and ties in ``rank``
    do not matter, and a song listed twice counts once, at its best rank. One shuffle: the
    user's rows are gathered into one sorted array (lists are top-N sized).
    """
    check_columns(recommendations, "recommendations", user_col, item_col, rank_col)
    return top_positions_by(recommendations, max_k, [user_col], item_col, rank_col)


def top_positions_by(
    recommendations: DataFrame, max_k: int, keys: Sequence[str], item_col: str, rank_col: str
) -> DataFrame:
    """:func:`top_positions` of each list ``keys`` name (a user's, or a user's in one of
    several labelled lists): ``(*keys, song, position)``."""
    ordered = F.sort_array(F.collect_list(F.struct(F.col(rank_col), F.col(item_col))))
    # array_distinct keeps the first occurrence, which is the best-ranked one here.
    songs = F.array_distinct(F.transform(ordered, lambda row: row[item_col]))
    return (
        recommendations.groupBy(*keys)
        .agg(F.slice(songs, 1, max_k).alias("songs"))
        .select(*keys, F.posexplode("songs").alias(POSITION, item_col))
        .select(*keys, item_col, (F.col(POSITION) + 1).alias(POSITION))
    )


def relevant_pairs(held_out: DataFrame, user_col: str, item_col: str) -> DataFrame:
    """The distinct ``(user, song)`` pairs of the held-out plays: each user's relevant set."""
    check_columns(held_out, "held_out", user_col, item_col)
    return held_out.select(user_col, item_col).distinct()


_relevant = relevant_pairs


def _at_most(k: int, field: str | None = None):
    """An array-filter predicate: the element (or its ``field``) is at most ``k``."""
    if field is None:
        return lambda x: x <= k
    return lambda x: x[field] <= k


def _ideal_dcg(n_relevant: Column, k: int) -> Column:
    positions = F.sequence(F.lit(1), F.least(n_relevant, F.lit(k)))
    return F.aggregate(positions, F.lit(0.0), lambda acc, i: acc + 1.0 / F.log2(i + 1))


def per_user_from_top(
    top: DataFrame,
    relevant: DataFrame,
    ks: Sequence[int],
    keys: Sequence[str],
    item_col: str,
    labels: DataFrame | None = None,
) -> DataFrame:
    """The ranking metrics of each list of ``top`` (``(*keys, song, position)``, the user
    last of ``keys``) against ``relevant``: one row per evaluated user (of each of ``labels``'
    lists, when ``top`` holds several: ``labels`` is then one row per list, its column the
    first key), zeros where the list found nothing or is missing."""
    user_col = keys[-1]
    n_relevant = relevant.groupBy(user_col).agg(F.count("*").alias(_N_RELEVANT))
    if labels is not None:
        n_relevant = n_relevant.crossJoin(labels)
    hit_positions = (
        top.join(relevant, [user_col, item_col])
        .groupBy(*keys)
        .agg(F.sort_array(F.collect_list(POSITION)).alias("hits"))
    )
    per_user = n_relevant.join(hit_positions, list(keys), "left").withColumn(
        "hits", F.coalesce("hits", F.array().cast(T.ArrayType(T.IntegerType())))
    )
    n_rel = F.col(_N_RELEVANT)
    columns = [*[F.col(key) for key in keys], n_rel]
    for k in ks:
        hits = F.filter("hits", _at_most(k))
        n_hits = F.size(hits).cast("double")
        dcg = F.aggregate(hits, F.lit(0.0), lambda acc, p: acc + 1.0 / F.log2(p + 1))
        # the i-th hit (0-based) at position p contributes precision@p = (i + 1) / p
        ap = F.aggregate(
            F.transform(hits, lambda p, i: (i + 1) / p), F.lit(0.0), lambda acc, x: acc + x
        )
        columns += [
            (n_hits / k).alias(f"precision_at_{k}"),
            (n_hits / n_rel).alias(f"recall_at_{k}"),
            (dcg / _ideal_dcg(n_rel, k)).alias(f"ndcg_at_{k}"),
            (ap / F.least(n_rel, F.lit(k))).alias(f"map_at_{k}"),
        ]
    return per_user.select(*columns)


def _per_user_from_top(
    top: DataFrame, relevant: DataFrame, ks: Sequence[int], user_col: str, item_col: str
) -> DataFrame:
    return per_user_from_top(top, relevant, ks, [user_col], item_col)


def per_user_ranking_metrics(
    recommendations: DataFrame,
    held_out: DataFrame,
    ks: Iterable[int],
    *,
    user_col: str = S.USER,
    item_col: str = S.SONG,
    rank_col: str = S.RANK,
) -> DataFrame:
    """One row per evaluated user: ``n_relevant`` and ``<metric>_at_<k>`` for each K.

    Metrics are precision, recall, ndcg and map (see the module docstring). Evaluated users
    are those in ``held_out``; one without recommendations gets zeros.
    """
    ks = check_ks(ks)
    relevant = _relevant(held_out, user_col, item_col)
    evaluated = recommendations.join(relevant.select(user_col).distinct(), user_col, "left_semi")
    top = top_positions(evaluated, max(ks), user_col=user_col, item_col=item_col, rank_col=rank_col)
    return _per_user_from_top(top, relevant, ks, user_col, item_col)


def _mean_ranking(per_user: DataFrame, ks: Sequence[int]) -> dict[str, float]:
    names = [(metric, k) for k in ks for metric in S.RANKING_METRICS]
    row = per_user.agg(
        F.count("*").alias("n_users"),
        *[F.avg(f"{metric}_at_{k}").alias(metric_key(metric, k)) for metric, k in names],
    ).first()
    if row["n_users"] == 0:
        raise EvaluationError("held_out: no evaluated users (the held-out table is empty)")
    return {metric_key(metric, k): float(row[metric_key(metric, k)]) for metric, k in names}


def ranking_metrics(
    recommendations: DataFrame,
    held_out: DataFrame,
    ks: Iterable[int],
    *,
    user_col: str = S.USER,
    item_col: str = S.SONG,
    rank_col: str = S.RANK,
) -> dict[str, float]:
    """Mean precision, recall, NDCG and MAP at each K over the evaluated users.

    Keys are ``metric@k`` (``"ndcg@10"``). One Spark job; a handful of numbers to the driver.
    """
    ks = check_ks(ks)
    per_user = per_user_ranking_metrics(
        recommendations, held_out, ks, user_col=user_col, item_col=item_col, rank_col=rank_col
    )
    return _mean_ranking(per_user, ks)


# --------------------------------------------------------------------------- beyond accuracy


def _coverage_from_top(
    top: DataFrame, ks: Sequence[int], catalogue_size: int, item_col: str
) -> dict[str, float]:
    row = top.agg(
        *[F.count_distinct(F.when(F.col(POSITION) <= k, F.col(item_col))).alias(str(k)) for k in ks]
    ).first()
    return {metric_key(S.METRIC_COVERAGE, k): row[str(k)] / catalogue_size for k in ks}


def catalogue_coverage(
    recommendations: DataFrame,
    ks: Iterable[int],
    catalogue_size: int,
    users: DataFrame | None = None,
    *,
    user_col: str = S.USER,
    item_col: str = S.SONG,
    rank_col: str = S.RANK,
) -> dict[str, float]:
    """Distinct songs in the top K of the lists of ``users`` (default all) / catalogue size."""
    ks = check_ks(ks)
    check_catalogue_size(catalogue_size)
    if users is not None:
        recommendations = recommendations.join(users.select(user_col), user_col, "left_semi")
    top = top_positions(
        recommendations, max(ks), user_col=user_col, item_col=item_col, rank_col=rank_col
    )
    return _coverage_from_top(top, ks, catalogue_size, item_col)


def intra_list_diversity(
    recommendations: DataFrame,
    item_vectors: DataFrame,
    ks: Iterable[int],
    users: DataFrame | None = None,
    *,
    user_col: str = S.USER,
    item_col: str = S.SONG,
    rank_col: str = S.RANK,
    vector_col: str = S.FEATURES,
) -> dict[str, float | None]:
    """Mean over users of the mean pairwise (1 - cosine) of song vectors in their top K.

    ``item_vectors`` is ``(song_idx, features array<float>)``. ``None`` at a K where no user
    has two songs with vectors. The vectors of the listed songs are broadcast and each list
    is scored in numpy (:mod:`recsys.evaluation.diversity`): lists travel as song ids only.
    """
    ks = check_ks(ks)
    if users is not None:
        recommendations = recommendations.join(users.select(user_col), user_col, "left_semi")
    top = top_positions(
        recommendations, max(ks), user_col=user_col, item_col=item_col, rank_col=rank_col
    )
    return _diversity(top, item_vectors, ks, user_col, item_col, vector_col)


def _diversity(top, item_vectors, ks, user_col, item_col, vector_col) -> dict[str, float | None]:
    check_columns(item_vectors, "item_vectors", item_col, vector_col)
    means = diversity_from_top(top, item_vectors, ks, user_col, item_col, vector_col, POSITION)
    return {metric_key(S.METRIC_DIVERSITY, k): v for k, v in means.items()}


# --------------------------------------------------------------------------- all models


def evaluate_models(
    recs_by_model: Mapping[str, DataFrame],
    test: DataFrame,
    ks: Iterable[int],
    catalogue_size: int,
    item_vectors: DataFrame | None = None,
    *,
    map_tau: int | None = 500,
    alpha: float | None = None,
    user_col: str = S.USER,
    item_col: str = S.SONG,
    rank_col: str = S.RANK,
    vector_col: str = S.FEATURES,
) -> DataFrame:
    """All metrics of all models as one long table in ``schemas.METRICS_SCHEMA``.

    For each model (in the mapping's order) and K: precision, recall, ndcg, map and coverage,
    and diversity when ``item_vectors`` is given (rows left out where it is undefined); plus
    ``map`` at ``map_tau`` (the MSD Challenge's mAP@500; ``None`` or 0 to skip), which needs
    lists that long to mean what it says. Users are those of ``test``. ``alpha`` goes into
    every row's ``alpha`` column (for a hybrid alpha sweep); null by default.
    """
    if not recs_by_model:
        raise EvaluationError("recs_by_model: expected at least one model")
    ks = check_ks(ks)
    check_catalogue_size(catalogue_size)
    rank_ks = check_ks([*ks, map_tau]) if map_tau else list(ks)
    spark = test.sparkSession
    scored = scoring.score_lists(
        recs_by_model, test, rank_ks, user_col=user_col, item_col=item_col, rank_col=rank_col
    )
    try:
        values = model_values(scored, list(recs_by_model), ks, map_tau, catalogue_size)
        if item_vectors is not None:
            for model, found in scoring.diversity(
                scored, list(recs_by_model), item_vectors, ks, vector_col
            ).items():
                values[model].update(found)
    finally:
        scored.release()
    alpha = None if alpha is None else float(alpha)
    rows = [
        (model, *_split_key(key), value, alpha)
        for model in recs_by_model
        for key, value in values[model].items()
    ]
    rows.sort(key=lambda r: (list(recs_by_model).index(r[0]), metric_order(r[1]), r[2]))
    return spark.createDataFrame(rows, S.METRICS_SCHEMA)


def model_values(
    scored: scoring.Scored,
    models: Sequence[str],
    ks: Sequence[int],
    map_tau: int | None,
    catalogue_size: int,
) -> dict[str, dict[str, float]]:
    """``{model: {"ndcg@10": mean, ..., "map@<tau>": mean, "coverage@10": ...}}`` of the
    ``models`` among ``scored``'s lists (ranking means at ``ks`` and ``map_tau``, coverage)."""
    ranking = scoring.means(scored)
    coverage = scoring.coverage(scored, models, ks, catalogue_size)
    values: dict[str, dict[str, float]] = {}
    for model in models:
        found = {key: v["mean"] for key, v in ranking[model].items()}
        values[model] = {key: v for key, v in found.items() if int(key.split("@")[1]) in ks}
        if map_tau and map_tau not in ks:
            values[model][metric_key(S.METRIC_MAP, map_tau)] = found[
                metric_key(S.METRIC_MAP, map_tau)
            ]
        values[model].update(coverage[model])
    return values


def _split_key(key: str) -> tuple[str, int | None]:
    metric, _, k = key.partition("@")
    return metric, int(k) if k else None


def metric_order(metric: str) -> tuple[int, str]:
    known = S.METRIC_NAMES
    return (known.index(metric), "") if metric in known else (len(known), metric)


# --------------------------------------------------------------------------- cross-check


# --------------------------------------------------------------------------- report
