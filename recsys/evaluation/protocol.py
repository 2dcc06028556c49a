"""The evaluate step: every model of the run, proven against baselines on held-out plays.

A share of users hide a share of their songs (``recsys.evaluation.holdout_split``). The same
library code the production steps use is trained on the rest — ALS refitted on the training
plays, collaborative neighbours from those factors, the run's content neighbours (they never
see plays) — and each model's list for the held-out users is scored with the ranking metrics:
popularity (baseline), ALS alone, content alone, the hybrid, and the hybrid at each alpha of
the configured sweep.

The hybrid job picks ``top_n`` songs from a pool ``top_n + extra_candidates`` deep (ALS's
top-N and the content candidates); the evaluation's lists are ``max(ks)`` long, so its pool is
as many times deeper than the list (50 from 125 with the defaults), and the cold slots take the
last places of the 50 as they take the last of the 20 in production.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recsys import schemas as S
from recsys.evaluation import metrics as evaluation
from recsys.models import als, hybrid
from recsys.similarity import topn

if TYPE_CHECKING:
    from recsys.config import Config

MODELS = ("popularity", "als", "content", "hybrid")


def train_tables(
    train: DataFrame, users: DataFrame, songs: DataFrame
) -> tuple[DataFrame, DataFrame]:
    """users and songs with their play statistics recomputed from the training plays only."""
    user_stats = train.groupBy(S.USER).agg(
        F.count(F.lit(1)).cast("int").alias("n_songs"), F.sum(S.PLAYS).cast("long").alias("n_plays")
    )
    song_stats = train.groupBy(S.SONG).agg(
        F.count(F.lit(1)).cast("int").alias("n_listeners"),
        F.sum(S.PLAYS).cast("long").alias("n_plays"),
    )
    users_train = users.select(S.USER, S.USER_ID).join(user_stats, S.USER)
    songs_train = (
        songs.drop("n_listeners", "n_plays")
        .join(song_stats, S.SONG, "left")
        .fillna(0, ["n_listeners", "n_plays"])
    )
    return users_train, songs_train


def content_recommendations(
    train: DataFrame, content_neighbours: DataFrame, seeds_per_user: int, n: int
) -> DataFrame:
    """Content alone: songs nearest to what the user played, (user_idx, song_idx, score, rank)."""
    relation = hybrid.neighbour_relation(None, content_neighbours)
    hits = hybrid.seed_hits(train, relation, seeds_per_user).filter(
        F.col("content_raw").isNotNull()
    )
    ranked = hybrid.top_per_user(hits, "content_raw", n, rank_col=S.RANK)
    return ranked.select(S.USER, S.SONG, F.col("content_raw").alias(S.SCORE), S.RANK)


def model_lists(
    interactions: DataFrame,
    users: DataFrame,
    songs: DataFrame,
    content_neighbours: DataFrame,
    vectors: DataFrame,
    cfg: Config,
) -> tuple[dict[str, DataFrame], DataFrame, DataFrame, int]:
    """Split, train on the training plays, and return each model's lists for the test users.

    Returns ``(lists by model, hybrid candidate pool, test plays, list depth)``.
    """
    ev = cfg.evaluation
    level = StorageLevel.MEMORY_AND_DISK
    train, test = evaluation.holdout_split(
        interactions, ev.holdout_user_fraction, ev.holdout_play_fraction, ev.min_user_songs, ev.seed
    )
    test_users = test.select(S.USER).distinct().persist(level)
    depth = max(ev.ks)
    h = cfg.hybrid
    # The hybrid picks its top_n from a pool (top_n + extra_candidates) deep; judged on lists
    # `depth` long, it gets a pool as much deeper than its list, from ALS as from content.
    pool_size = max(depth, math.ceil(depth * (h.top_n + h.extra_candidates) / h.top_n))
    train_of_test_users = train.join(test_users, S.USER).persist(level)
    users_train, songs_train = train_tables(train, users, songs)

    model = als.fit_als(train, cfg.als)
    user_f = als.user_factors(model).join(test_users, S.USER).persist(level)
    item_f = als.item_factors(model).persist(level)
    cf_depth = max(pool_size, cfg.als.top_n)
    cf_topn = topn.recommend_top_n(
        user_f, item_f, train_of_test_users, cf_depth, block_size=cfg.als.block_size
    ).persist(level)
    cf_nbrs = topn.cf_neighbours(
        item_f, cfg.als.neighbours_k, "exact", block_size=cfg.als.block_size
    )
    relation = hybrid.neighbour_relation(cf_nbrs, content_neighbours)
    pool = hybrid.user_candidates(
        train_of_test_users,
        users_train.join(test_users, S.USER),
        songs_train,
        cf_topn,
        relation,
        cfg.hybrid,
        pool_size,
        hybrid.Signals(user_f, item_f, vectors),
    ).persist(level)
    lists = {
        "popularity": evaluation.popularity_recommender(train, depth, users=test_users),
        "als": cf_topn.filter(F.col(S.RANK) <= depth),
        "content": content_recommendations(
            train_of_test_users, content_neighbours, h.seeds_per_user, depth
        ),
        "hybrid": hybrid.rank_candidates(
            pool, h.novelty, h.max_per_artist, depth, None, h.popularity_exponent, h.cold_slots
        ),
    }
    return lists, pool, test, depth


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{model: {"ndcg@10": value, ...}} of the rows without an alpha."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.get("alpha") is None:
            out.setdefault(row["model"], {})[evaluation.metric_key(row["metric"], row["k"])] = row[
                "value"
            ]
    return out


def comparison_markdown(comparisons: dict[str, dict[str, dict[str, float]]]) -> str:
    """The hybrid against each model, paired over the held-out users, as a Markdown table."""
    if not comparisons:
        return ""
    keys = list(next(iter(comparisons.values())))
    lines = [
        "",
        "## Hybrid against each model",
        "",
        "Mean of (hybrid - model) over the held-out users, with its 95% interval "
        "(1.96 standard errors of the paired differences) and how many users each side wins.",
        "",
        "| hybrid vs | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for other, by_key in comparisons.items():
        cells = []
        for key in keys:
            c = by_key[key]
            sign = "**" if c["mean"] - c["ci95"] > 0 else ""
            cells.append(
                f"{sign}{c['mean']:+.4f} ± {c['ci95']:.4f}{sign} "
                f"({c['better']} better / {c['worse']} worse)"
            )
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Bold: the whole interval is above 0.")
    return "\n".join(lines) + "\n"
