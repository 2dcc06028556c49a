"""The evaluation protocol: every model of the run, fitted on a split, scored on held-out plays.

A share of users hide a share of their songs (:func:`recsys.evaluation.split.flag_split`,
the one splitter). The production recommenders are fitted on the rest with the production
settings — ALS refitted on the training plays (its neighbours by the configured method, its
top-N in the configured blocks), the run's content neighbours (they never see plays), the
hybrid over both — and each one's list for the held-out users, from its own ``recommend``, is
scored: popularity (baseline), ALS alone, the item-based (co-play) model alone, content alone,
the hybrid, and the hybrid at each alpha of the configured sweep.

The hybrid job picks ``top_n`` songs from a pool ``top_n + extra_candidates`` deep (ALS's
top-N and the content candidates); the evaluation's lists are ``max(ks)`` long, so its pool is
as many times deeper than the list (50 from 125 with the defaults), and the cold slots take the
last places of the 50 as they take the last of the 20 in production.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.evaluation import metrics, report, scoring
from recsys.evaluation.checks import check_ks, metric_key
from recsys.evaluation.split import HIDDEN, ROLE, Role, flag_split
from recsys.models.als import AlsRecommender
from recsys.models.content import ContentRecommender
from recsys.models.hybrid import HybridRecommender, pool_size
from recsys.models.itemknn import ItemKNNRecommender
from recsys.models.popularity import PopularityRecommender

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from recsys.config import Config, HybridConfig
    from recsys.models.base import Recommender

MODELS = ("popularity", "als", "itemknn", "content", "hybrid")
_LEVEL = StorageLevel.MEMORY_AND_DISK


@dataclass
class HeldOut:
    """The split and everything fitted on it; ``release`` unpersists what it cached.

    ``test`` holds the evaluation users' hidden plays. With a fitted blend, ``validation``
    holds other users' hidden plays, and the models are fitted on ``fit_plays``, which hides
    both (one refit serves the blend fitting and the evaluation); otherwise ``fit_plays`` is
    ``train``.
    """

    train: DataFrame
    test: DataFrame
    test_users: DataFrame
    depth: int
    # how many users hid plays, when only a seeded sample of them is scored (else None)
    sampled_from: int | None = None
    fit_plays: DataFrame | None = None
    validation: DataFrame | None = None
    validation_users: DataFrame | None = None
    models: dict[str, Recommender] = field(default_factory=dict)
    lists: dict[str, DataFrame] = field(default_factory=dict)
    pool: DataFrame | None = None
    cached: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        for name in ("itemknn", "hybrid"):
            model = self.models.get(name)
            if model is not None:
                model.release()  # type: ignore[attr-defined]
        for df in (*self.cached, self.train, self.test):
            df.unpersist()


def split_roles(cfg: Config) -> list[Role]:
    """The split's roles: the evaluation's users, then (fitted blend) the validation users."""
    ev, fit = cfg.evaluation, cfg.hybrid.fit
    roles = [Role(ev.holdout_user_fraction, ev.holdout_play_fraction, ev.seed)]
    if fit.mode == "fitted":
        roles.append(Role(fit.validation_user_fraction, fit.validation_play_fraction, fit.seed))
    return roles


def split_settings(cfg: Config) -> dict[str, Any]:
    """Everything the split depends on besides the plays (fit-blend records it in blend.json;
    evaluate refuses to score the refits under other settings)."""
    roles = [dataclasses.asdict(role) for role in split_roles(cfg)]
    return {"min_user_songs": cfg.evaluation.min_user_songs, "roles": roles}


def split(interactions: DataFrame, cfg: Config) -> HeldOut:
    """Hide the configured share of plays (and, for a fitted blend, a validation share of
    other users' plays); lists will be ``max(evaluation.ks)`` long. Deterministic (a function
    of the plays and :func:`split_settings`): the fit-blend and evaluate steps compute the same
    split, and evaluate checks that fit-blend's settings were its own.

    One :func:`recsys.evaluation.split.flag_split` (one shuffle of the plays by user) flags
    both: the evaluation's users first, then the validation users among the others; the
    frames are filters of that one cached frame. (Computing it again beats reading it back:
    the frames keep the partitioning by user of its shuffle, which evaluate's joins and
    aggregations by user reuse.)"""
    ev, fit = cfg.evaluation, cfg.hybrid.fit
    flagged = flag_split(interactions, split_roles(cfg), ev.min_user_songs).persist(_LEVEL)
    columns = interactions.columns
    hidden, role = F.col(HIDDEN), F.col(ROLE)

    def plays(condition):
        return flagged.filter(condition).select(*columns)

    test = plays(hidden & (role == 0))
    test_users = test.select(S.USER).distinct().persist(_LEVEL)
    train = plays(~(hidden & (role == 0)))
    cached = [flagged, test_users]
    held = HeldOut(train, test, test_users, max(ev.ks), fit_plays=train, cached=cached)
    if fit.mode == "fitted":
        validation = plays(hidden & (role == 1))
        users = validation.select(S.USER).distinct().persist(_LEVEL)
        held.fit_plays, held.validation, held.validation_users = plays(~hidden), validation, users
        held.cached.append(users)
    if ev.max_users:
        sample_users(held, ev.max_users, ev.seed)
    return held


def sample_users(held: HeldOut, max_users: int, seed: int) -> None:
    """Score at most ``max_users`` of the users who hid plays: a seeded sample (by a hash of
    the user, so the same night after night). The others' plays stay hidden from every fit,
    so the sample changes what is scored, never what was trained on."""
    total = held.test_users.count()
    if total <= max_users:
        return
    sample = (
        held.test_users.orderBy(F.xxhash64(S.USER, F.lit(seed)), S.USER)
        .limit(max_users)
        .persist(_LEVEL)
    )
    held.cached.append(sample)
    held.test = held.test.join(sample, S.USER, "left_semi")
    held.test_users, held.sampled_from = sample, total


def fit_models(
    held: HeldOut,
    songs: DataFrame,
    content_neighbours: DataFrame,
    content_vectors: DataFrame,
    cfg: Config,
    *,
    factors: tuple[DataFrame, DataFrame] | None = None,
    coplay: DataFrame | None = None,
    cf_neighbours: DataFrame | None = None,
    hybrid_cfg: HybridConfig | None = None,
) -> dict[str, Recommender]:
    """Every production recommender fitted on ``held.fit_plays`` with production settings.

    ``factors`` (user, item) are the refit's factor tables when the fit-blend step made them;
    without, ALS is refitted here; ``coplay`` likewise the item-based refit's neighbours, and
    ``cf_neighbours`` the ALS refit's (else scored from ``factors``).
    ``hybrid_cfg`` is the hybrid's config with the run's blend
    (default ``cfg.hybrid``). ALS's list for the test users (as deep as the hybrid's pool
    needs) is computed once and cached; the ALS model serves it to both.
    """
    plays = held.fit_plays
    hybrid_cfg = hybrid_cfg or cfg.hybrid
    factors_given = factors is not None  # neighbours belong to the factors they came with
    if factors is None:
        fitted = AlsRecommender(cfg.als).fit(plays)
        factors = (fitted.user_factors, fitted.item_factors)
    user_f = factors[0].join(held.test_users, S.USER, "left_semi").persist(_LEVEL)
    item_f = factors[1].persist(_LEVEL)
    cf_depth = max(pool_size(hybrid_cfg, held.depth), cfg.als.top_n)
    scorer = AlsRecommender.from_factors(cfg.als, plays, user_f, item_f)
    cf_lists = scorer.recommend(held.test_users, cf_depth).persist(_LEVEL)
    held.cached += [user_f, item_f, cf_lists]
    als = AlsRecommender.from_factors(
        cfg.als,
        plays,
        user_f,
        item_f,
        top_n=cf_lists,
        top_n_depth=cf_depth,
        neighbours=cf_neighbours if factors_given else None,
    )
    if coplay is None:
        itemknn = ItemKNNRecommender(cfg.itemknn).fit(plays)
    else:
        itemknn = ItemKNNRecommender.from_neighbours(cfg.itemknn, plays, coplay)
    held.models["itemknn"] = itemknn  # released with the split, whatever fails next
    content = ContentRecommender(content_neighbours, hybrid_cfg.seeds_per_user)
    hybrid = HybridRecommender(
        hybrid_cfg,
        songs,
        als,
        content_neighbours,
        content_vectors,
        itemknn=itemknn if hybrid_cfg.item_weight > 0 else None,
        coplay=itemknn.similar_items(cfg.itemknn.k),
    )
    held.models = {
        "popularity": PopularityRecommender().fit(plays),
        "als": als,
        "itemknn": itemknn,
        "content": content.fit(plays),
        "hybrid": hybrid.fit(plays),
    }
    return held.models


def model_lists(held: HeldOut) -> dict[str, DataFrame]:
    """Each fitted model's ``recommend`` for the test users (the hybrid's ranked inside its
    scoring blocks: its pool is never a table). Each list is persisted (test users x depth
    rows: ``evaluation.max_users`` bounds it), so the metrics and the paired comparisons score
    it without computing it again."""
    lists = {
        name: model.recommend(held.test_users, held.depth) for name, model in held.models.items()
    }
    held.lists = {name: df.persist(_LEVEL) for name, df in lists.items()}
    held.cached += list(held.lists.values())
    return held.lists


def score(
    held: HeldOut, catalogue: int, vectors: DataFrame, cfg: Config
) -> tuple[DataFrame, dict[str, dict[str, dict[str, float]]], dict[str, dict[str, float]]]:
    """Every model's metrics (and the hybrid's ranking metrics at each alpha of the sweep, when
    one is configured: the hybrid's pool is then built once and ranked once per alpha), the
    hybrid against each other model paired user by user (mean, 95% interval, wins), and the
    hybrid's own metrics with their 95% intervals: ``(metrics table, paired, intervals)``.

    Every list is scored in one pass (:mod:`recsys.evaluation.scoring`)."""
    ev = cfg.evaluation
    ks, map_tau = ev.ks, ev.map_tau or None
    rank_ks = check_ks([*ks, map_tau]) if map_tau else list(ks)
    lists = dict(held.lists)
    hybrid_model: HybridRecommender = held.models["hybrid"]  # type: ignore[assignment]
    if ev.alpha_sweep and held.pool is None:
        held.pool = hybrid_model.candidates(held.test_users, held.depth).persist(_LEVEL)
        held.cached.append(held.pool)
    sweep = {f"hybrid@alpha={float(a)!r}": float(a) for a in ev.alpha_sweep}
    for label, alpha in sweep.items():
        lists[label] = hybrid_model.rank(held.pool, held.depth, alpha=alpha)
    scored = scoring.score_lists(lists, held.test, rank_ks)
    try:
        models = list(held.lists)
        values = metrics.model_values(scored, models, ks, map_tau, catalogue)
        for model, found in scoring.diversity(scored, models, vectors, ks).items():
            values[model].update(found)
        means = scoring.means(scored)
        paired = scoring.paired(scored, "hybrid", ks)
    finally:
        scored.release()
    rows = [
        (model, *_split_key(key), value, None)
        for model in models
        for key, value in sorted(values[model].items(), key=lambda kv: _order(kv[0]))
    ]
    for label, alpha in sweep.items():
        rows += [
            ("hybrid", metric, k, means[label][metric_key(metric, k)]["mean"], alpha)
            for metric in sorted(S.RANKING_METRICS, key=metrics.metric_order)
            for k in ks
        ]
    table = held.test.sparkSession.createDataFrame(rows, S.METRICS_SCHEMA)
    intervals = {
        metric_key(m, k): means["hybrid"][metric_key(m, k)] for k in ks for m in S.RANKING_METRICS
    }
    others = {other: paired[other] for other in MODELS if other != "hybrid" and other in paired}
    return S.to_schema(table, S.METRICS_SCHEMA), others, intervals


def _split_key(key: str) -> tuple[str, int | None]:
    metric, _, k = key.partition("@")
    return metric, int(k) if k else None


def _order(key: str) -> tuple:
    metric, k = _split_key(key)
    return (metrics.metric_order(metric), k)


def report_doc(
    run_id: str,
    rows: list[dict[str, Any]],
    held: HeldOut,
    catalogue: int,
    paired: dict[str, dict[str, dict[str, float]]],
    cfg: Config,
    blend: dict[str, Any] | None = None,
    intervals: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """``evaluation.json``: the metrics by model, the comparisons, the sweep, the split and
    the blend the hybrid was judged with (``blend.json``: chosen values and their sweep)."""
    stats = held.test.agg(
        F.countDistinct(S.USER).alias("users"), F.count(F.lit(1)).alias("plays")
    ).first()
    ev = cfg.evaluation
    return {
        "run_id": run_id,
        "ks": list(ev.ks),
        "list_depth": held.depth,
        "held_out_users": int(stats["users"]),
        "held_out_plays": int(stats["plays"]),
        # which evaluation ran: every user who hid plays scored, or a seeded sample of them
        "evaluated": {
            "users": int(stats["users"]),
            "of_users_holding_out": held.sampled_from or int(stats["users"]),
            "sampled": held.sampled_from is not None,
            "max_users": ev.max_users,
            "alpha_sweep": list(ev.alpha_sweep),
        },
        "catalogue_songs": catalogue,
        "models": report.summarise(rows),
        "hybrid_vs": paired,
        # the hybrid's metrics with their 95% intervals (the drift gate reads changes by them)
        "intervals": {"hybrid": intervals or {}},
        "alpha_sweep": [
            {"alpha": r["alpha"], "metric": metric_label(r), "value": r["value"]}
            for r in rows
            if r.get("alpha") is not None
        ],
        "split": {
            "holdout_user_fraction": ev.holdout_user_fraction,
            "holdout_play_fraction": ev.holdout_play_fraction,
            "min_user_songs": ev.min_user_songs,
            "seed": ev.seed,
            "models_fitted_on": "training plays less the blend's validation plays"
            if held.validation is not None
            else "training plays",
        },
        "blend": blend,
    }


def metric_label(row: dict[str, Any]) -> str:
    return metric_key(row["metric"], row["k"])


def report_text(doc: dict[str, Any], rows: list[dict[str, Any]], map_tau: int) -> str:
    """``evaluation.md``: the metrics table, the paired comparisons and the alpha sweep."""
    main_rows = [r for r in rows if r.get("alpha") is None]
    sweep_rows = [r for r in rows if r.get("alpha") is not None]
    depth = doc["list_depth"]
    tau = f" (mAP@{map_tau} is computed on these lists)" if map_tau else ""
    ev = doc.get("evaluated") or {}
    sample = (
        f" (a seeded sample of the {ev['of_users_holding_out']} who hid plays)"
        if ev.get("sampled")
        else ""
    )
    return (
        f"# Evaluation of run {doc['run_id']}\n\n"
        f"{doc['held_out_users']} users{sample} hold out {doc['held_out_plays']} plays; "
        f"every list is {depth} songs long{tau}.\n\n"
        + report.report_markdown(main_rows)
        + report.comparison_markdown(doc["hybrid_vs"])
        + (
            "\n## Alpha sweep (hybrid)\n\n" + report.report_markdown(sweep_rows)
            if sweep_rows
            else ""
        )
        + report.blend_markdown(doc.get("blend"))
    )
