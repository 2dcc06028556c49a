"""Benchmark (not a test): recommendation quality on the real excerpts in ``../shared/data``.

Two protocols, in one run and one SparkSession:

- **A, the MSD Challenge protocol**: train on the Taste Profile sample plus the visible half
  of 263 Challenge year-1 users; recommend 500 songs to each of those users; score their
  hidden half. Hidden songs that never occur in training keep a place in each user's relevant
  set (under ids no training song has), as in the Challenge: they cap every model's recall.
- **B, the Taste Profile sample alone**: each user with 4+ songs hides half of them
  (``recsys.evaluation.split.holdout_split``, seeded); recommend 500 to each such user.

The training table is built by the pipeline's own ingest (so ids are the pipeline's), and the
content tables by its content and neighbours steps, on a temp input folder holding the
training triplets as ``train_triplets.txt``, both real track lists and the musiXmatch sample
(no mismatch list: it would quarantine plays, which the Challenge protocol does not do). The
models: popularity, ALS and the hybrid through this project's own recommenders (settings from
the config; the hybrid's blend fitted on validation plays as production's fit-blend step fits
it, and with ``hybrid.fit.mode=fitted`` also the configured blend), and as peers the
``implicit`` library's ALS (same rank, iterations, regularisation and confidence) and its
item-to-item ``CosineRecommender`` on co-plays. Every list of 500 comes from the model's own
``recommend(users, 500)``.

Metrics: the Challenge's truncated mAP@500, NDCG@10 and recall@50, each with its 95% interval
(1.96 standard errors over users), and the paired difference hybrid - each model. Markdown is
printed and written, with JSON, under ``bench/results/`` (git-ignored).

Usage::

    .venv/bin/python bench/bench_real.py                       # 2.5-9 minutes on 2 cores
    .venv/bin/python bench/bench_real.py --seed 7 --rank 64 --conf conf/local.yaml
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the project's packages sit beside bench/
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results"
DATA = REPO.parent / "shared" / "data"

TRIPLETS = "taste_profile_triplets.sample.txt"
VISIBLE = "msd_challenge_year1_visible.sample.txt"
HIDDEN = "msd_challenge_year1_hidden.sample.txt"
TRACK_LISTS = ("unique_tracks.sample.txt", "subset_unique_tracks.txt")
LYRICS = "mxm_dataset_test.sample.txt"

LIST_LENGTH = 500  # the Challenge's list length and mAP truncation
KS = [10, 50, LIST_LENGTH]
CELLS = [("map", LIST_LENGTH), ("ndcg", 10), ("recall", 50)]  # the three reported metrics
MODELS = (
    "popularity",
    "als",
    "itemknn",
    "implicit_als",
    "implicit_cosine",
    "hybrid_fixed",
    "hybrid",
)
LABELS = {
    "popularity": "popularity",
    "als": "ALS (ours)",
    "itemknn": "item-based, co-plays (ours)",
    "implicit_als": "implicit ALS",
    "implicit_cosine": "implicit item-item cosine",
    "hybrid_fixed": "hybrid, configured blend",
    "hybrid": "hybrid (ours)",
}


def label(metric: str, k: int) -> str:
    return {"map": "mAP", "ndcg": "NDCG", "recall": "recall"}[metric] + f"@{k}"


# ----------------------------------------------------------------------------- inputs


def input_folder(folder: Path, data: Path, triplet_files: list[str]) -> Path:
    """A raw-input folder: ``train_triplets.txt`` (the files joined), track lists, lyrics."""
    folder.mkdir(parents=True)
    with open(folder / "train_triplets.txt", "wb") as out:
        for name in triplet_files:
            raw = (data / name).read_bytes()
            out.write(raw if raw.endswith(b"\n") else raw + b"\n")
    for name in (*TRACK_LISTS, LYRICS):
        shutil.copyfile(data / name, folder / name)
    return folder


def build_run(spark, cfg, run_id: str) -> dict:
    """Ingest, content and neighbours into the temp warehouse; the content tables (or empty
    ones, with the reason, if the content or neighbours step fails on these inputs)."""
    from pyspark.sql import functions as F

    from recsys import schemas as S
    from recsys.steps import run_steps
    from recsys.storage.warehouse import Warehouse

    steps = run_steps(spark, cfg, run_id, ["ingest"])
    wh = Warehouse.from_config(cfg)
    note = None
    try:
        steps.update(run_steps(spark, cfg, run_id, ["content", "neighbours"]))
        vectors = wh.read_table(spark, run_id, S.CONTENT_VECTORS)
        neighbours = wh.read_table(spark, run_id, S.CONTENT_NEIGHBOURS)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports the failure and goes on
        note = (
            f"the content/neighbours step failed on these inputs ({failure_reason(exc)}), so "
            "the hybrid ran on empty content tables"
        )
        print(f"  {note}", flush=True)
        vectors = spark.createDataFrame([], S.CONTENT_VECTORS_SCHEMA)
        neighbours = spark.createDataFrame([], S.NEIGHBOURS_SCHEMA)
    tables = {
        "interactions": wh.read_table(spark, run_id, S.INTERACTIONS),
        "users": wh.read_table(spark, run_id, S.USERS),
        "songs": wh.read_table(spark, run_id, S.SONGS),
        "content_vectors": vectors,
        "content_neighbours": neighbours,
    }
    sources = vectors.groupBy(S.CONTENT_SOURCE).count().collect()
    played = tables["songs"].filter(F.col("n_listeners") > 0)
    content = {
        "vectors": sum(r["count"] for r in sources),
        "by_source": {r[S.CONTENT_SOURCE]: r["count"] for r in sources},
        "neighbour_rows": neighbours.count(),
        # a song whose vector has no source ("none") has no content signal
        "played_songs_with_signal": played.join(
            vectors.filter(F.col(S.CONTENT_SOURCE) != "none").select(S.SONG), S.SONG, "left_semi"
        ).count(),
        "played_songs": played.count(),
        "played_songs_in_track_list": played.filter(F.col(S.TRACK_ID).isNotNull()).count(),
        "played_songs_with_lyrics": played.filter(F.col("has_lyrics")).count(),
        "failed": note,
    }
    return {"tables": tables, "content": content, "steps": steps}


def failure_reason(exc: BaseException) -> str:
    """The root cause of a step's failure in one line (a Java error's innermost cause)."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        while java.getCause() is not None:
            java = java.getCause()
        return str(java.toString())[:300]
    return f"{type(exc).__name__}: " + (str(exc).strip().splitlines() or [""])[0][:300]


def challenge_hidden(spark, path: Path, tables: dict) -> tuple:
    """The hidden half as ``(user_idx, song_idx)``, by the run's ids; songs the run has no
    id for get new ones above every song id the run has. Returns ``(held_out, stats)``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from recsys import schemas as S

    hidden = (
        spark.read.csv(str(path), sep="\t", schema="user_id string, song_id string, plays int")
        .select(S.USER_ID, S.SONG_ID)
        .distinct()
    )
    users = tables["users"].select(S.USER_ID, S.USER)
    songs = tables["songs"].select(S.SONG_ID, S.SONG)
    top_id = songs.agg(F.max(S.SONG)).first()[0]
    unknown = hidden.select(S.SONG_ID).distinct().join(songs, S.SONG_ID, "left_anti")
    # One partition for a numbering of a few thousand ids: fine in a benchmark.
    new_ids = unknown.withColumn(
        S.SONG, (F.lit(top_id) + F.row_number().over(Window.orderBy(S.SONG_ID))).cast("int")
    )
    held_out = (
        hidden.join(users, S.USER_ID)
        .join(songs.unionByName(new_ids), S.SONG_ID)
        .select(S.USER, S.SONG)
        .persist()
    )
    trained = tables["interactions"].select(S.SONG).distinct()
    stats = _held_out_stats(held_out, trained)
    stats["hidden_users_in_file"] = hidden.select(S.USER_ID).distinct().count()
    stats["hidden_plays_in_file"] = hidden.count()
    if stats["hidden_plays"] != stats["hidden_plays_in_file"]:
        raise SystemExit(f"{path.name}: some users are not in the training table: {stats}")
    return held_out, stats


def _held_out_stats(held_out, trained) -> dict:
    """Users, hidden plays, the share of them whose song no training play has, and the mean
    recall ceiling (each user's hidden songs that occur in training / all hidden songs)."""
    from pyspark.sql import functions as F

    from recsys import schemas as S

    known = trained.select(S.SONG, F.lit(1).alias("_known"))
    per_user = (
        held_out.join(known, S.SONG, "left")
        .groupBy(S.USER)
        .agg(F.count("*").alias("n"), F.count("_known").alias("k"))
        .agg(
            F.count("*").alias("users"),
            F.sum("n").alias("plays"),
            F.sum("k").alias("known"),
            F.avg(F.col("k") / F.col("n")).alias("ceiling"),
        )
        .first()
    )
    return {
        "users": int(per_user["users"]),
        "hidden_plays": int(per_user["plays"]),
        "unseen_share": 1.0 - per_user["known"] / per_user["plays"],
        "recall_ceiling": float(per_user["ceiling"]),
    }


# ----------------------------------------------------------------------------- models


def project_lists(
    cfg, tables: dict, train, users, n: int, hybrids: dict, cached_models: list
) -> tuple[dict, dict, list]:
    """Popularity, ALS, the item-based model and each hybrid of ``hybrids`` (name: its
    config), each fitted on ``train`` and asked ``recommend(users, n)``; ALS and the item-based
    model are fitted once and serve the hybrids (as the evaluate step does; a hybrid whose
    blend gives the item-based model no share leaves it out, as production does)."""
    from pyspark import StorageLevel

    from recsys.models.als import AlsRecommender
    from recsys.models.hybrid import HybridRecommender, pool_size
    from recsys.models.itemknn import ItemKNNRecommender
    from recsys.models.popularity import PopularityRecommender

    level = StorageLevel.MEMORY_AND_DISK
    lists, seconds, cached = {}, {}, []
    knn_release = cached_models

    def timed(name, make):
        started = time.perf_counter()
        lists[name] = make().persist(level)
        rows = lists[name].count()
        seconds[name] = round(time.perf_counter() - started, 1)
        cached.append(lists[name])
        print(f"  {name}: {rows:,} rows in {seconds[name]}s", flush=True)

    timed("popularity", lambda: PopularityRecommender().fit(train).recommend(users, n))
    started = time.perf_counter()
    fitted = AlsRecommender(cfg.als).fit(train)
    user_f, item_f = fitted.user_factors.persist(level), fitted.item_factors.persist(level)
    item_f.count()
    seconds["als_fit"] = round(time.perf_counter() - started, 1)
    cached += [user_f, item_f]
    # The hybrid asks ALS for its pool's depth; scoring that once serves both lists.
    depth = max(pool_size(cfg.hybrid, n), cfg.als.top_n)
    scorer = AlsRecommender.from_factors(cfg.als, train, user_f, item_f)
    timed("als_pool", lambda: scorer.recommend(users, depth))
    als = AlsRecommender.from_factors(
        cfg.als, train, user_f, item_f, top_n=lists.pop("als_pool"), top_n_depth=depth
    )
    timed("als", lambda: als.recommend(users, n))
    started = time.perf_counter()
    knn = ItemKNNRecommender(cfg.itemknn).fit(train)
    seconds["itemknn_fit"] = round(time.perf_counter() - started, 1)
    timed("itemknn", lambda: knn.recommend(users, n))
    for name, hybrid_cfg in hybrids.items():
        hybrid = HybridRecommender(
            hybrid_cfg,
            tables["songs"],
            als,
            tables["content_neighbours"],
            tables["content_vectors"],
            itemknn=knn if hybrid_cfg.item_weight > 0 else None,
        ).fit(train)
        timed(name, lambda h=hybrid: h.recommend(users, n))
    knn_release.append(knn)
    return lists, seconds, cached


def fitted_blend(cfg, tables: dict, train, evaluated) -> dict:
    """The blend production would choose on these training plays (``hybrid.fit``): validation
    users that are not ``evaluated`` hide a share of their plays, ALS is refitted on the rest,
    and ``recsys.evaluation.blend_fit.fit_blend`` picks the grid point. Where no other user
    qualifies (protocol B holds out every user with 4+ songs), the evaluated users' training
    plays are split instead; their hidden plays are never seen. Returns ``blend.json``'s
    document, with ``validation_from``."""
    from recsys import schemas as S
    from recsys.evaluation import blend_fit
    from recsys.evaluation.split import holdout_split
    from recsys.models.als import AlsRecommender, released_rdds
    from recsys.models.hybrid import HybridRecommender
    from recsys.models.itemknn import ItemKNNRecommender

    fit = cfg.hybrid.fit
    if fit.mode == "fixed":
        return blend_fit.fixed_blend(cfg.hybrid)
    split = (fit.validation_user_fraction, fit.validation_play_fraction)
    min_songs = cfg.evaluation.min_user_songs
    plays, hidden = holdout_split(train, *split, min_songs, fit.seed, exclude_users=evaluated)
    source = "users not evaluated"
    if hidden.limit(1).count() == 0:
        plays.unpersist(), hidden.unpersist()
        plays, hidden = holdout_split(train, *split, min_songs, fit.seed)
        source = "the evaluated users' training plays (no other user qualifies)"
    users = hidden.select(S.USER).distinct().persist()
    knn = None
    try:
        with released_rdds(train.sparkSession):
            refit = AlsRecommender(cfg.als).fit(plays)
            knn = ItemKNNRecommender(cfg.itemknn).fit(plays)
            model = HybridRecommender(
                cfg.hybrid,
                tables["songs"],
                refit,
                tables["content_neighbours"],
                tables["content_vectors"],
                itemknn=knn if any(w > 0 for w in fit.item_weights) else None,
            ).fit(plays)
            depth = max(cfg.evaluation.ks)  # production's fit-blend step ranks this deep
            doc = blend_fit.fit_blend(model, users, hidden, depth, cfg.publish.gate_metric)
    finally:
        if knn is not None:
            knn.release()
        for df in (users, plays, hidden):
            df.unpersist()
    doc["validation_from"] = source
    print(f"  blend: {doc['chosen']} ({doc['validation_users']} validation users)", flush=True)
    return doc


def confidence_matrix(train_pdf: pd.DataFrame, als_cfg, shape: tuple[int, int], songs):
    """The user x song CSR matrix of ``1 + alpha * strength(plays)``, our ALS's confidence."""
    import scipy.sparse as sp

    plays = train_pdf["plays"].to_numpy(np.float64)
    if als_cfg.confidence == "log":
        strength = np.log1p(plays / als_cfg.log_eps)
    elif als_cfg.confidence == "raw":
        strength = plays
    else:
        strength = np.ones_like(plays)
    conf = (1.0 + als_cfg.alpha * strength).astype(np.float32)
    cols = np.searchsorted(songs, train_pdf["song_idx"].to_numpy())
    return sp.csr_matrix((conf, (train_pdf["user_idx"].to_numpy(), cols)), shape=shape)


def implicit_lists(train, users, cfg, n: int, cosine_k: int, threads: int) -> tuple:
    """The ``implicit`` library's ALS and item-item cosine, fitted on ``train``: top ``n``
    unplayed songs per user as pandas ``(user_idx, song_idx, score, rank)``."""
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import CosineRecommender
    from threadpoolctl import threadpool_limits

    from recsys import schemas as S

    # A few tens of thousands of plays: the benchmark gathers them to fit the peers.
    train_pdf = train.select(S.USER, S.SONG, S.PLAYS).toPandas()
    targets = np.sort(users.toPandas()[S.USER].to_numpy())
    songs = np.unique(train_pdf[S.SONG].to_numpy())  # implicit sees only played songs
    shape = (int(max(train_pdf[S.USER].max(), targets.max())) + 1, songs.size)
    a = cfg.als
    conf = confidence_matrix(train_pdf, a, shape, songs)
    coplays = conf.copy()
    coplays.data[:] = 1.0  # co-plays: every (user, song) pair counts once
    out, seconds = {}, {}
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        # implicit converts a matrix it builds itself (cosine's normalised copy) and says so
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        started = time.perf_counter()
        als = AlternatingLeastSquares(
            factors=a.rank,
            regularization=a.reg_param,
            alpha=1.0,  # the confidence is already 1 + alpha * strength
            iterations=a.max_iter,
            random_state=cfg.als.seed,
            num_threads=threads,
        )
        als.fit(conf, show_progress=False)
        out["implicit_als"] = als.recommend(targets, conf[targets], N=n)
        seconds["implicit_als"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cosine = CosineRecommender(K=cosine_k, num_threads=threads)
        cosine.fit(coplays, show_progress=False)
        out["implicit_cosine"] = cosine.recommend(targets, coplays[targets], N=n)
        seconds["implicit_cosine"] = round(time.perf_counter() - started, 1)
    return {
        name: _long(targets, ids, scores, songs) for name, (ids, scores) in out.items()
    }, seconds


def _long(users: np.ndarray, ids: np.ndarray, scores: np.ndarray, songs: np.ndarray):
    """implicit's ``(users, N)`` id and score arrays as a long table; padding (-1, or no
    score at all) dropped."""
    rows = np.repeat(users, ids.shape[1])
    rank = np.tile(np.arange(1, ids.shape[1] + 1), ids.shape[0])
    flat_ids, flat_scores = ids.ravel(), scores.ravel()
    keep = (flat_ids >= 0) & np.isfinite(flat_scores) & (flat_scores > -1e30)
    return pd.DataFrame(
        {
            "user_idx": rows[keep].astype(np.int32),
            "song_idx": songs[flat_ids[keep]].astype(np.int32),
            "score": flat_scores[keep].astype(np.float32),
            "rank": rank[keep].astype(np.int32),
        }
    )


# ----------------------------------------------------------------------------- scoring


def score_lists(lists: dict, held_out) -> dict:
    """Each model's cells (mean, 95% interval) and the hybrid's paired differences."""
    from pyspark import StorageLevel

    from recsys.evaluation.compare import paired_difference
    from recsys.evaluation.metrics import per_user_ranking_metrics

    per_user = {
        name: per_user_ranking_metrics(recs, held_out, KS).persist(StorageLevel.MEMORY_AND_DISK)
        for name, recs in lists.items()
    }
    cells = {}
    for name, frame in per_user.items():
        pdf = frame.toPandas()  # one row per evaluated user: a few hundred
        cells[name] = {
            label(m, k): _interval(pdf[f"{m}_at_{k}"].to_numpy(np.float64)) for m, k in CELLS
        }
    paired = {}
    for name in lists:
        if name == "hybrid":
            continue
        diff = paired_difference(per_user["hybrid"], per_user[name], KS, ("map", "ndcg", "recall"))
        paired[name] = {label(m, k): diff[f"{m}@{k}"] for m, k in CELLS}
    for frame in per_user.values():
        frame.unpersist()
    return {"cells": cells, "hybrid_vs": paired}


def _interval(values: np.ndarray) -> dict:
    n = values.size
    sd = float(values.std(ddof=1)) if n > 1 else float("nan")
    return {"mean": float(values.mean()), "ci95": 1.96 * sd / math.sqrt(n), "n_users": n}


def run_protocol(spark, cfg, tables: dict, train, held_out, args) -> dict:
    """Every model's lists of 500 for the held-out users, scored."""
    from pyspark.sql import functions as F

    from recsys import schemas as S
    from recsys.evaluation.blend_fit import apply_blend

    users = held_out.select(S.USER).distinct().persist()
    started = time.perf_counter()
    blend = fitted_blend(cfg, tables, train, users)
    blend_seconds = round(time.perf_counter() - started, 1)
    hybrids = {"hybrid": apply_blend(cfg.hybrid, blend)}
    if blend["mode"] == "fitted":
        hybrids["hybrid_fixed"] = cfg.hybrid
    models: list = []
    lists, seconds, cached = project_lists(cfg, tables, train, users, LIST_LENGTH, hybrids, models)
    seconds["blend_fit"] = blend_seconds
    peers, peer_seconds = implicit_lists(train, users, cfg, LIST_LENGTH, args.cosine_k, 2)
    for name, pdf in peers.items():
        lists[name] = spark.createDataFrame(pdf, S.TOPN_SCHEMA)
    seconds.update(peer_seconds)
    names = [name for name in MODELS if name in lists]
    lengths = {
        name: lists[name].groupBy(S.USER).count().agg(F.min("count"), F.avg("count")).first()
        for name in names
    }
    scored = score_lists({name: lists[name] for name in names}, held_out)
    scored["blend"] = blend
    for df in (*cached, users):
        df.unpersist()
    for model in models:
        model.release()
    scored["seconds"] = seconds
    scored["list_lengths"] = {
        name: {"min": int(r[0] or 0), "mean": float(r[1] or 0.0)} for name, r in lengths.items()
    }
    return scored


# ----------------------------------------------------------------------------- report


def _cell(value: dict, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{value['mean']:{sign}.4f} ± {value['ci95']:.4f}"


def protocol_markdown(title: str, doc: dict) -> str:
    heads = [label(m, k) for m, k in CELLS]
    lines = [f"### {title}", "", doc["description"], ""]
    lines += ["| model | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for name in doc["cells"]:
        row = doc["cells"][name]
        lines.append(f"| {LABELS[name]} | " + " | ".join(_cell(row[h]) for h in heads) + " |")
    lines += ["", "Paired difference, hybrid - model (95% interval; users better / worse):", ""]
    lines += ["| hybrid - | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for name, diff in doc["hybrid_vs"].items():
        cells = [f"{_cell(diff[h], True)} ({diff[h]['better']}/{diff[h]['worse']})" for h in heads]
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    lines += ["", f"Content: {content_sentence(doc['content'])}", "", blend_sentence(doc["blend"])]
    same = doc["hybrid_vs"]["als"]
    if all(d["mean"] == 0 and d["better"] == d["worse"] == 0 for d in same.values()):
        lines += [
            "",
            "The hybrid's lists score exactly as ALS's on every user: its blend (or the "
            "absence of any content signal) makes it the collaborative lists.",
        ]
    lines.append("")
    return "\n".join(lines) + "\n"


def blend_sentence(blend: dict) -> str:
    chosen = blend["chosen"]
    values = (
        f"alpha {chosen['alpha']}, popularity exponent {chosen['popularity_exponent']}, "
        f"alpha curve {chosen['alpha_curve'] or 'none'}, collaborative shares: item-based "
        f"{chosen.get('item_weight', 0.0)}, popularity {chosen.get('popularity_weight', 0.0)}"
    )
    if blend["mode"] != "fitted":
        return f"Hybrid blend: configured ({values})."
    return (
        f"Hybrid blend: fitted as production fits it (`hybrid.fit`) on "
        f"{blend['validation_users']} validation users from {blend['validation_from']}, by "
        f"{blend['metric']} on lists of {blend['list_depth']}: {values} "
        f"(validation {blend['metric']} {blend['value']:.4f}). The configured blend's row "
        "is the hybrid with `hybrid.alpha`, `popularity_exponent` and `alpha_curve` as set."
    )


def content_sentence(content: dict) -> str:
    c = content
    joins = (
        f"of {c['played_songs']:,} played songs, {c['played_songs_in_track_list']} are in the "
        f"track lists and {c['played_songs_with_lyrics']} have lyrics"
    )
    if c["failed"]:
        return f"{joins}; {c['failed']}."
    by_source = ", ".join(f"{k} {v}" for k, v in sorted(c["by_source"].items())) or "none"
    return (
        f"{joins}; {c['vectors']:,} song vectors ({by_source}), {c['neighbour_rows']:,} "
        f"neighbour rows, {c['played_songs_with_signal']} played songs with a content signal."
    )


def markdown(doc: dict) -> str:
    s = doc["settings"]
    changed = doc["commit"]["changed"]
    dirty = (
        f" plus uncommitted changes to {len(changed)} files of recsys/ and conf/" if changed else ""
    )
    head = (
        f"## Real-data quality benchmark ({doc['created_at']})\n\n"
        f"Commit `{doc['commit']['head']}`{dirty}, {doc['wall_seconds']:.0f} s wall. "
        f"ALS: rank {s['rank']}, "
        f"{s['max_iter']} iterations, reg {s['reg_param']}, confidence 1 + {s['alpha']} * "
        f"{s['confidence']}(plays) for ours and implicit's (implicit: {s['implicit_solver']}, "
        f"regularisation not scaled by play count); implicit cosine K = {s['cosine_k']}; "
        f"seed {s['seed']}. Lists of {LIST_LENGTH}; intervals are 1.96 standard errors over "
        "users.\n\n"
    )
    return head + "".join(protocol_markdown(p["title"], p) for p in doc["protocols"].values())


# ----------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--seed", type=int, default=42, help="split, ALS and implicit seed")
    parser.add_argument("--rank", type=int, default=0, help="ALS rank (default: the config's)")
    parser.add_argument("--data", default=str(DATA), help="the real excerpts' folder")
    parser.add_argument(
        "--cosine-k", type=int, default=1000, help="implicit cosine: neighbours kept per song"
    )
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    parser.add_argument("--keep", action="store_true", help="keep the temp warehouse")
    return parser.parse_args(argv)


def load_config(args, tmp: Path):
    from recsys import config

    overrides = [
        f"warehouse.dir={tmp / 'warehouse'}",
        f"spark.checkpoint_dir={tmp / 'checkpoints'}",
        "spark.shuffle_partitions=4",
        f"als.seed={args.seed}",
        f"evaluation.seed={args.seed}",
        "input.tracks=*unique_tracks*.txt",
        f"input.lyrics={LYRICS}",
    ]
    if args.rank:
        overrides.append(f"als.rank={args.rank}")
    return config.load(args.conf, [*overrides, *args.set])


def protocol_a(spark, cfg, data: Path, tmp: Path, args) -> dict:
    import dataclasses

    folder = input_folder(tmp / "in_challenge", data, [TRIPLETS, VISIBLE])
    cfg = dataclasses.replace(cfg, input=dataclasses.replace(cfg.input, dir=str(folder)))
    run = build_run(spark, cfg, "challenge")
    held_out, stats = challenge_hidden(spark, data / HIDDEN, run["tables"])
    doc = run_protocol(spark, cfg, run["tables"], run["tables"]["interactions"], held_out, args)
    held_out.unpersist()
    description = (
        f"Train: the Taste Profile sample plus the visible half of the Challenge users "
        f"({run['steps']['ingest']['interactions']:,} plays). Scored: {stats['users']} users' "
        f"hidden half, {stats['hidden_plays']:,} songs, {stats['unseen_share']:.0%} of them "
        f"never in training (recall ceiling {stats['recall_ceiling']:.3f})."
    )
    return {
        "title": "A. MSD Challenge protocol",
        "description": description,
        **stats,
        **doc,
        "content": run["content"],
        "steps": run["steps"],
    }


def protocol_b(spark, cfg, data: Path, tmp: Path, args) -> dict:
    import dataclasses

    from recsys import schemas as S
    from recsys.evaluation.split import holdout_split

    folder = input_folder(tmp / "in_taste", data, [TRIPLETS])
    cfg = dataclasses.replace(cfg, input=dataclasses.replace(cfg.input, dir=str(folder)))
    run = build_run(spark, cfg, "taste")
    train, test = holdout_split(run["tables"]["interactions"], 1.0, 0.5, 4, args.seed)
    held_out = test.select(S.USER, S.SONG)
    stats = _held_out_stats(held_out, train)
    doc = run_protocol(spark, cfg, run["tables"], train, held_out, args)
    train.unpersist(), test.unpersist()
    description = (
        f"The Taste Profile sample alone ({run['steps']['ingest']['interactions']:,} plays): "
        f"{stats['users']} users with 4+ songs hide half of them (seed {args.seed}), "
        f"{stats['hidden_plays']:,} songs, {stats['unseen_share']:.0%} of them never in "
        f"training (recall ceiling {stats['recall_ceiling']:.3f})."
    )
    return {
        "title": "B. Taste Profile sample, half of each user hidden",
        "description": description,
        **stats,
        **doc,
        "content": run["content"],
        "steps": run["steps"],
    }


def commit() -> dict:
    """HEAD and the library files that differ from it (the numbers are the working tree's)."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "recsys", "conf").splitlines()
    return {
        "head": git("rev-parse", "--short", "HEAD") or "unknown",
        "changed": [line[3:] for line in changed],
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    data = Path(args.data)
    if not (data / TRIPLETS).exists():
        print(f"{data}: the real excerpts are not there (see ../shared/data/README.md)")
        return 2
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench_real_"))
    cfg = load_config(args, tmp)
    from recsys.session import build_session

    spark = build_session(cfg)
    try:
        protocols = {
            "challenge": protocol_a(spark, cfg, data, tmp, args),
            "taste_profile": protocol_b(spark, cfg, data, tmp, args),
        }
    finally:
        spark.stop()
        if args.keep:
            print(f"kept the temp warehouse and inputs in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    a = cfg.als
    doc = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
        "settings": {
            "rank": a.rank,
            "max_iter": a.max_iter,
            "reg_param": a.reg_param,
            "alpha": a.alpha,
            "confidence": a.confidence,
            "log_eps": a.log_eps,
            "implicit_solver": "conjugate gradient (3 steps, its default)",
            "cosine_k": args.cosine_k,
            "seed": args.seed,
            "list_length": LIST_LENGTH,
            "hybrid": {
                "alpha": cfg.hybrid.alpha,
                "alpha_curve": cfg.hybrid.alpha_curve,
                "popularity_exponent": cfg.hybrid.popularity_exponent,
                "cold_slots": cfg.hybrid.cold_slots,
                "fit_mode": cfg.hybrid.fit.mode,
            },
            "conf": args.conf,
            "overrides": args.set,
        },
        "protocols": protocols,
    }
    text = markdown(doc)
    print()
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"real-{stamp}.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    (RESULTS / f"real-{stamp}.md").write_text(text)
    (RESULTS / "real-latest.md").write_text(text)
    print(f"wrote {RESULTS / f'real-{stamp}.json'} and .md ({doc['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
