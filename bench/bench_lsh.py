"""Benchmark: LSH content neighbours against the exact blocked matrix product, in one run.

For a few LSH settings, measures recall@K against exact neighbours of every song and the wall
time of each (Spark, this machine), prints a table and writes JSON to ``bench/results/``.

Vectors come from a run's ``content_vectors`` table, for example::

    recsys sample-data --size large --out data/large
    recsys run --conf conf/local.yaml --run-id bench-large --steps ingest,content \\
        --set input.dir=data/large --set ingest.max_bad_fraction=0.05
    python bench/bench_lsh.py --warehouse warehouse --run-id bench-large

or from ``--synthetic N`` clustered unit vectors (to look past the generated sizes).
Times depend on the machine and its load: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys import config as config_mod  # noqa: E402
from recsys import schemas as S  # noqa: E402
from recsys.similarity import lsh, topn  # noqa: E402

# (bucket_length, num_hash_tables, hashes_per_table, max_candidates)
SETTINGS = [
    (0.2, 3, 1, 200),  # one hash per table: what approxSimilarityJoin's tables are
    (0.3, 12, 3, 200),
    (0.1, 24, 2, 200),
    (0.15, 24, 3, 300),  # the default in conf/base.yaml
]


def synthetic(spark, n: int, dim: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(8, n // 500), dim))
    x = centres[rng.integers(0, len(centres), n)] + 0.7 * rng.normal(size=(n, dim))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    rows = [(i, x[i].tolist()) for i in range(n)]
    return spark.createDataFrame(rows, "song_idx int, features array<float>")


def timed(df):
    """Materialise ``df`` (persisted) and return it with the seconds it took."""
    started = time.perf_counter()
    df = df.persist()
    df.count()
    return df, time.perf_counter() - started


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    ap.add_argument("--warehouse", help="warehouse folder holding the run")
    ap.add_argument("--run-id", help="run whose content_vectors to use")
    ap.add_argument("--synthetic", type=int, default=0, help="N clustered vectors instead")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument(
        "--settings",
        help="LSH settings to try instead of the built-in list: 'bl,L,r,B;bl,L,r,B;...' "
        "(bucket_length, num_hash_tables, hashes_per_table, max_candidates)",
    )
    args = ap.parse_args(argv)

    overrides = list(args.set)
    if args.warehouse:
        overrides.append(f"warehouse.dir={args.warehouse}")
    cfg = config_mod.load(args.conf, overrides)
    from recsys.session import build_session
    from recsys.storage.warehouse import Warehouse

    spark = build_session(cfg)
    try:
        if args.synthetic:
            source = f"synthetic {args.synthetic} x {args.dim}"
            vectors = synthetic(spark, args.synthetic, args.dim, args.seed)
        else:
            if not args.run_id:
                ap.error("give --run-id (with --warehouse) or --synthetic N")
            source = f"{args.warehouse or cfg.warehouse.dir} run {args.run_id}"
            vectors = Warehouse.from_config(cfg).read_table(spark, args.run_id, S.CONTENT_VECTORS)
        vectors, _ = timed(vectors.select(S.SONG, S.FEATURES))
        n = lsh.unit_vectors(vectors).count()
        dim = len(vectors.first()[S.FEATURES])
        ncfg = cfg.neighbours
        print(f"{source}: {n} songs with a non-zero vector, dim {dim}, k {args.k}")

        exact, exact_s = timed(
            topn.exact_neighbours(
                vectors, args.k, block_size=ncfg.block_size, block_memory_mb=ncfg.block_memory_mb
            )
        )
        rows = [{"method": "exact", "seconds": round(exact_s, 1), "recall": 1.0}]
        print(f"exact blocked matmul: {exact_s:.1f}s")
        settings = SETTINGS
        if args.settings:
            settings = [
                (float(b), int(t), int(r), int(c))
                for b, t, r, c in (item.split(",") for item in args.settings.split(";"))
            ]
        for bucket_length, tables, per_table, max_cand in settings:
            buckets = lsh.lsh_buckets(
                lsh.unit_vectors(vectors), bucket_length, tables, max_cand, args.seed, per_table
            )
            stats = lsh.bucket_stats(buckets)
            approx, seconds = timed(
                lsh.lsh_neighbours(
                    vectors,
                    args.k,
                    bucket_length,
                    tables,
                    max_cand,
                    args.seed,
                    hashes_per_table=per_table,
                )
            )
            recall = lsh.lsh_recall(approx, exact, args.k)
            approx.unpersist()
            row = {
                "method": "lsh",
                "bucket_length": bucket_length,
                "num_hash_tables": tables,
                "hashes_per_table": per_table,
                "max_candidates": max_cand,
                "seconds": round(seconds, 1),
                "recall": round(recall["recall"], 4),
                "min_song_recall": recall["min"],
                "buckets": stats["buckets"],
                "largest_bucket": stats["largest"],
                "pairs_without_chunks": stats["pairs_unchunked"],
                "all_pairs": n * n,
            }
            rows.append(row)
            print(
                f"lsh bl={bucket_length} L={tables} r={per_table} B={max_cand}: "
                f"recall@{args.k}={row['recall']:.3f} {seconds:.1f}s "
                f"(largest bucket {stats['largest']}, unchunked pairs "
                f"{stats['pairs_unchunked'] / (n * n):.1%} of all)"
            )
        print()
        print(f"{'setting':<32} {'recall@' + str(args.k):>10} {'seconds':>8} {'vs exact':>9}")
        for row in rows:
            name = (
                "exact (blocked numpy matmul)"
                if row["method"] == "exact"
                else "lsh bl={bucket_length} L={num_hash_tables} r={hashes_per_table} "
                "B={max_candidates}".format(**row)
            )
            speed = exact_s / row["seconds"] if row["seconds"] else float("nan")
            print(f"{name:<32} {row['recall']:>10.3f} {row['seconds']:>8.1f} {speed:>8.2f}x")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        path = out / f"bench_lsh-{stamp}.json"
        doc = {"source": source, "songs": n, "dim": dim, "k": args.k, "rows": rows}
        path.write_text(json.dumps(doc, indent=2))
        print(f"\nwrote {path}")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
