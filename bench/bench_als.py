"""Benchmark (not a test): Spark ALS and top-N scoring against recommendForAllUsers and implicit.

On one generated data set, in one run, it times

- Spark ML implicit ALS fit, for each block count and storage level asked for;
- this project's blocked numpy top-N (``recsys.topn.recommend_top_n``), with and without
  excluding played songs, on the fitted model;
- ``ALSModel.recommendForAllUsers`` on the same model (it excludes nothing);
- the ``implicit`` library's ALS fit (CG and Cholesky solvers) and its recommend-all
  (played songs filtered), on the same confidence matrix and settings,

prints one table with times and ratios, and writes it as JSON under ``bench/results/``.

Usage::

    pip install -r bench/requirements.txt
    PYTHONPATH=. python bench/bench_als.py --triplets 1000000 --blocks 2,4 --levels MEMORY_AND_DISK

Settings are matched where the libraries allow: rank, iterations, the confidence matrix
(``1 + alpha * strength(plays)``, given to implicit precomputed with its alpha=1) and the
nominal regularisation. Spark scales the regularisation by each row's number of plays and
solves exactly (Cholesky); implicit does not scale it and by default takes 3 CG steps.
Both top-N outputs are forced with a ``noop`` write, so every row is computed.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


# ----------------------------------------------------------------------------- data


def synthetic_interactions(n_triplets: int, n_users: int, n_songs: int, seed: int) -> dict:
    """Power-law interactions: Zipf song popularity, lognormal user activity, geometric plays.

    Users prefer one of 8 genres (80% of their draws), so the factors have structure to find.
    Duplicate (user, song) draws are dropped, so slightly fewer than ``n_triplets`` remain.
    """
    rng = np.random.default_rng(seed)
    n_genres = 8
    draws = int(n_triplets * 1.6)
    activity = rng.lognormal(0.0, 1.0, n_users)
    users = rng.choice(n_users, draws, p=activity / activity.sum())
    song_genre = rng.integers(0, n_genres, n_songs)
    popularity = 1.0 / np.arange(1, n_songs + 1) ** 0.9
    rng.shuffle(popularity)
    by_genre = [np.flatnonzero(song_genre == g) for g in range(n_genres)]
    genre_cdf = [np.cumsum(popularity[s]) / popularity[s].sum() for s in by_genre]
    all_cdf = np.cumsum(popularity) / popularity.sum()
    user_genre = rng.integers(0, n_genres, n_users)[users]
    own = rng.random(draws) < 0.8
    songs = np.searchsorted(all_cdf, rng.random(draws))
    for g in range(n_genres):
        pick = own & (user_genre == g)
        songs[pick] = by_genre[g][np.searchsorted(genre_cdf[g], rng.random(pick.sum()))]
    songs = np.minimum(songs, n_songs - 1)
    key = np.unique(users.astype(np.int64) * n_songs + songs)[:n_triplets]
    rng.shuffle(key)
    return {
        "user_idx": (key // n_songs).astype(np.int32),
        "song_idx": (key % n_songs).astype(np.int32),
        "plays": (1 + rng.geometric(0.4, key.size)).astype(np.int32),
    }


def write_parquet(columns: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


# ----------------------------------------------------------------------------- timing


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def noop(df) -> None:
    df.write.format("noop").mode("overwrite").save()


def bench_spark(spark, cfg, interactions, args) -> tuple[list[dict], object]:
    """Fit ALS for each (blocks, storage level); return rows and the fastest fit's model."""
    from recsys.models import als

    rows, best = [], None
    for blocks in args.blocks:
        for level in args.levels:
            als_cfg = dataclasses.replace(
                cfg.als,
                num_user_blocks=blocks,
                num_item_blocks=blocks,
                intermediate_storage_level=level,
                final_storage_level=level,
            )
            seconds, model = timed(lambda c=als_cfg: als.fit_als(interactions, c))
            row = {"what": f"spark ALS fit, blocks={blocks}, {level}", "seconds": seconds}
            rows.append(row)
            print(f"  {row['what']}: {seconds:.1f}s", flush=True)
            if best is None or seconds < best[0]:
                best = (seconds, model, blocks, level)
    return rows, best


def bench_blocks(spark, cfg, interactions, args, scratch: Path) -> list[dict]:
    """Fit ALS with ``als.solver: blocks``: distributed (a job per half-iteration) for each
    block count, the other side's factors broadcast (library use) and shipped as files (the
    pipeline's way); then whole in one task on the executor's cores (``one_task_threads``)."""
    from recsys.models import als, block_als
    from recsys.similarity import ship, topn

    rows = []
    distributed = dataclasses.replace(cfg.als, solver="blocks", one_task_max_ratings=0)
    runs = [
        (
            dataclasses.replace(distributed, num_user_blocks=blocks, num_item_blocks=blocks),
            f"blocks={blocks}",
            ("broadcast", "shipped"),
        )
        for blocks in args.blocks
    ]
    threads = block_als.executor_cores(spark)
    one_task = dataclasses.replace(distributed, one_task_max_ratings=2_000_000_000)
    runs.append((one_task, f"one task, {threads} threads", ("shipped",)))
    for als_cfg, label, hows in runs:
        for how in hows:
            ship.configure(str(scratch) if how == "shipped" else None)
            mark = topn.live_broadcasts()
            with als.released_rdds(spark):
                seconds, _ = timed(lambda c=als_cfg: als.AlsRecommender(c).fit(interactions))
            topn.release_broadcasts(mark)
            ship.clear(spark)
            row = {"what": f"blocks ALS fit, {label}, {how}", "seconds": seconds}
            rows.append(row)
            print(f"  {row['what']}: {seconds:.1f}s", flush=True)
    return rows


def warm_up(spark, cfg, interactions) -> None:
    """One tiny fit and top-N first, so JVM JIT and Python worker start-up land on no row."""
    from recsys.models import als
    from recsys.similarity import topn

    sample = interactions.limit(20_000).persist()
    with als.released_rdds(spark):
        model = als.fit_als(sample, dataclasses.replace(cfg.als, max_iter=1))
        users, items = als.user_factors(model), als.item_factors(model)
        noop(topn.recommend_top_n(users, items, sample, 10))
        noop(model.recommendForAllUsers(10))
    sample.unpersist()


def bench_topn(spark, model, interactions, args) -> list[dict]:
    from recsys.models import als
    from recsys.similarity import topn

    users = als.user_factors(model).persist()
    items = als.item_factors(model).persist()
    users.count(), items.count()
    runs = [
        (
            f"numpy top-{args.top_n}, excluding played",
            lambda: noop(
                topn.recommend_top_n(
                    users, items, interactions, args.top_n, block_size=args.block_size
                )
            ),
        ),
        (
            f"numpy top-{args.top_n}, no exclusion",
            lambda: noop(
                topn.recommend_top_n(users, items, None, args.top_n, block_size=args.block_size)
            ),
        ),
        (
            f"recommendForAllUsers({args.top_n})",
            lambda: noop(model.recommendForAllUsers(args.top_n)),
        ),
    ]
    # Rounds interleave the contenders, so a load swing on a shared machine hits them alike.
    times: dict[str, list[float]] = {what: [] for what, _ in runs}
    for _ in range(max(1, args.repeat)):
        for what, fn in runs:
            times[what].append(timed(fn)[0])
            print(f"  {what}: {times[what][-1]:.1f}s", flush=True)
    rows = [{"what": what, "seconds": min(ts), "all_seconds": ts} for what, ts in times.items()]
    users.unpersist(), items.unpersist()
    return rows


def bench_implicit(columns: dict, n_users: int, n_songs: int, cfg, args) -> list[dict]:
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    a = cfg.als
    plays = columns["plays"].astype(np.float64)
    if a.confidence == "log":
        strength = np.log1p(plays / a.log_eps)
    elif a.confidence == "raw":
        strength = plays
    else:
        strength = np.ones_like(plays)
    conf = (1.0 + a.alpha * strength.astype(np.float32)).astype(np.float32)
    matrix = sp.csr_matrix(
        (conf, (columns["user_idx"], columns["song_idx"])), shape=(n_users, n_songs)
    )
    rows = []
    with threadpool_limits(1, "blas"):
        for use_cg in (True, False):
            model = AlternatingLeastSquares(
                factors=a.rank,
                regularization=a.reg_param,
                alpha=1.0,
                iterations=a.max_iter,
                use_cg=use_cg,
                num_threads=args.threads,
                random_state=a.seed,
            )
            seconds, _ = timed(lambda m=model: m.fit(matrix, show_progress=False))
            solver = "cg" if use_cg else "cholesky"
            rows.append({"what": f"implicit ALS fit ({solver})", "seconds": seconds})
            print(f"  {rows[-1]['what']}: {seconds:.1f}s", flush=True)
        user_ids = np.arange(n_users)
        seconds, _ = timed(
            lambda: model.recommend(user_ids, matrix, N=args.top_n, filter_already_liked_items=True)
        )
        rows.append({"what": f"implicit recommend-all top-{args.top_n}", "seconds": seconds})
        print(f"  {rows[-1]['what']}: {seconds:.1f}s", flush=True)
    return rows


# ----------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triplets", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=0, help="default: triplets / 30")
    parser.add_argument("--songs", type=int, default=0, help="default: triplets / 50")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--top-n", type=int, default=10)
    parser.add_argument("--block-size", type=int, default=4096)
    parser.add_argument("--blocks", default="2,4", help="ALS block counts to try, e.g. 1,2,4")
    parser.add_argument(
        "--levels", default="MEMORY_AND_DISK", help="storage levels to try, comma-separated"
    )
    parser.add_argument("--threads", type=int, default=2, help="implicit's threads")
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each top-N; best kept")
    parser.add_argument("--skip-implicit", action="store_true")
    parser.add_argument("--skip-blocks", action="store_true", help="no als.solver=blocks fits")
    parser.add_argument("--no-warmup", action="store_true")
    args = parser.parse_args(argv)
    args.blocks = [int(b) for b in args.blocks.split(",")]
    args.levels = [lv.strip() for lv in args.levels.split(",")]
    args.users = args.users or max(10, args.triplets // 30)
    args.songs = args.songs or max(10, args.triplets // 50)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from recsys import config
    from recsys.session import build_session

    tmp = Path(tempfile.mkdtemp(prefix="bench_als_"))
    cfg = config.load(
        str(REPO / "conf" / "local.yaml"),
        [
            f"warehouse.dir={tmp / 'warehouse'}",
            f"spark.checkpoint_dir={tmp / 'checkpoints'}",
            f"spark.shuffle_partitions={args.shuffle_partitions}",
            # one BLAS thread per Python worker: Spark already runs one worker per core
            "spark.extra={'spark.ui.enabled': 'false', "
            "'spark.executorEnv.OPENBLAS_NUM_THREADS': '1'}",
            f"als.rank={args.rank}",
            f"als.max_iter={args.iterations}",
            f"als.seed={args.seed}",
        ],
    )
    print(f"generating {args.triplets:,} triplets, {args.users:,} users, {args.songs:,} songs")
    columns = synthetic_interactions(args.triplets, args.users, args.songs, args.seed)
    n = int(columns["user_idx"].size)
    write_parquet(columns, tmp / "interactions.parquet")

    spark = build_session(cfg)
    rows: list[dict] = []
    try:
        interactions = spark.read.parquet(str(tmp / "interactions.parquet")).persist()
        interactions.count()
        if not args.no_warmup:
            warm_up(spark, cfg, interactions)
        fit_rows, (best_fit, model, blocks, level) = bench_spark(spark, cfg, interactions, args)
        rows += fit_rows
        if not args.skip_blocks:
            rows += bench_blocks(spark, cfg, interactions, args, tmp / "scratch")
        from recsys.models.block_als import one_task_limit

        one_task_up_to = one_task_limit(spark, cfg.als.one_task_max_ratings)
        rows += bench_topn(spark, model, interactions, args)
    finally:
        spark.stop()
    if not args.skip_implicit and importlib.util.find_spec("implicit"):
        rows += bench_implicit(columns, args.users, args.songs, cfg, args)

    by = {r["what"]: r["seconds"] for r in rows}
    ours = by[f"numpy top-{args.top_n}, excluding played"]
    theirs = by[f"recommendForAllUsers({args.top_n})"]
    ratios = {
        "recommendForAllUsers / numpy top-N (excluding played)": theirs / ours,
        "recommendForAllUsers / numpy top-N (no exclusion)": theirs
        / by[f"numpy top-{args.top_n}, no exclusion"],
    }
    if "implicit ALS fit (cg)" in by:
        ratios["best spark fit / implicit fit (cg)"] = best_fit / by["implicit ALS fit (cg)"]
        ratios["best spark fit / implicit fit (cholesky)"] = (
            best_fit / by["implicit ALS fit (cholesky)"]
        )
        chol = by["implicit ALS fit (cholesky)"]
        spread = [r["seconds"] for r in rows if r["what"].startswith("blocks ALS fit, blocks=")]
        whole = [r["seconds"] for r in rows if r["what"].startswith("blocks ALS fit, one task")]
        if spread:
            ratios["best distributed blocks fit / implicit fit (cholesky)"] = min(spread) / chol
        if whole:
            ratios["one-task blocks fit / implicit fit (cholesky)"] = whole[0] / chol
        if spread and whole:  # the path the configured threshold picks for this many ratings
            configured = whole[0] if n <= one_task_up_to else min(spread)
            ratios["blocks fit as configured / implicit fit (cholesky)"] = configured / chol
        ratios["numpy top-N (excluding) / implicit recommend-all"] = (
            ours / by[f"implicit recommend-all top-{args.top_n}"]
        )

    print()
    print(f"{'what':<58} {'seconds':>9}")
    for r in rows:
        print(f"{r['what']:<58} {r['seconds']:>9.2f}")
    print()
    for name, value in ratios.items():
        print(f"{name:<58} {value:>8.2f}x")

    doc = {
        "triplets": n,
        "users": args.users,
        "songs": args.songs,
        "rank": args.rank,
        "iterations": args.iterations,
        "top_n": args.top_n,
        "best_fit": {"blocks": blocks, "storage_level": level, "seconds": best_fit},
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "load_average": os.getloadavg(),
        "rows": rows,
        "ratios": ratios,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench_als-{n}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(doc, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
