"""The benchmark suite: the whole pipeline on generated data at several sizes.

For each size it generates raw files in the real formats (``sampledata``, the small
preset scaled to the size), then runs every step with ``recsys.steps.run_steps`` on a fresh
warehouse in a fresh Python process and JVM (so memory figures belong to that size), and
records per step: seconds, rows per second (triplet lines / seconds), the driver JVM's heap
peak, and for the whole size the driver JVM's peak resident memory and the Python driver's.
Across sizes it fits the growth exponent of each step (the log-log slope of seconds against
triplet lines: 1 is linear) and says where it is not close to linear and why. Optionally it
runs the peer benchmarks (``bench/bench_als.py``, ``bench/bench_lsh.py`` if present) once and
merges their ratios. Results: ``bench/results/suite-<time>.json`` and ``.md`` and
``bench/results/latest.md``.

Usage::

    PYTHONPATH=. python bench/run_suite.py                      # 0.5M, 2M, 8M triplets
    PYTHONPATH=. python bench/run_suite.py --sizes 0.5M,2M --peers --peer-triplets 1M
    PYTHONPATH=. python bench/run_suite.py --sizes 0.5M --set als.max_iter=5

Nothing here is asserted by tests except the pure helpers (growth exponent, tables).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DEFAULT_SIZES = "0.5M,2M,8M"
LINEAR_BAND = (0.8, 1.25)  # slopes inside count as close to linear
# Why a step may grow faster or slower than its input, for the report.
KNOWN_CAUSES = {
    "train-als": "top-N scoring and cf neighbours score every user (song) against every song: "
    "O(users x songs), and both grow with the data here",
    "neighbours": "content neighbours compare songs with songs (LSH buckets or exact blocks): "
    "O(songs^2 / buckets)",
    "evaluate": "it scores every held-out user against the catalogue for several models and "
    "alphas: O(users x songs)",
    "hybrid": "candidates per user are bounded, but the per-user blend joins neighbours of "
    "each seed song: O(users x seeds x k)",
    "content": "LDA and Word2Vec iterate over the lyrics vocabulary; fixed iteration counts "
    "make it near linear in songs once warm",
    "publish": "counts every table once; mostly fixed cost",
}


# ----------------------------------------------------------------------------- pure helpers


def parse_size(text: str) -> int:
    """``0.5M``, ``2m``, ``750k`` or ``1200000`` -> triplet lines."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = float(number) * scale
    except ValueError:
        raise ValueError(f"size {text!r}: expected a number like 500k, 0.5M or 2000000") from None
    if value < 1000:
        raise ValueError(f"size {text!r}: at least 1000 triplets")
    return int(value)


def growth_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float | None:
    """Least-squares slope of log(seconds) on log(size): 1 is linear, 2 quadratic."""
    points = [(math.log(n), math.log(t)) for n, t in zip(sizes, seconds, strict=True) if t > 0]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def growth_note(step: str, slope: float | None) -> str:
    """Whether a step's growth is close to linear, and the likely reason when not."""
    if slope is None:
        return "one size only"
    lo, hi = LINEAR_BAND
    if lo <= slope <= hi:
        return "close to linear"
    if slope < lo:
        return (
            "sublinear: fixed costs (Spark job and stage scheduling, JVM warm-up, per-task "
            "overhead on 2 cores) still dominate at these sizes"
        )
    return "superlinear: " + KNOWN_CAUSES.get(step, "more than linear work in the data size")


def summarise(runs: list[dict]) -> dict[str, Any]:
    """Per-step growth exponents over the sizes that completed that step."""
    steps: dict[str, Any] = {}
    names = [s for run in runs for s in run.get("steps", {})]
    for step in dict.fromkeys(names):
        done = [
            (run["triplet_lines"], run["steps"][step]["seconds"])
            for run in runs
            if run.get("steps", {}).get(step, {}).get("status") == "ok"
        ]
        slope = growth_exponent([n for n, _ in done], [t for _, t in done]) if done else None
        pairwise = [
            round(growth_exponent([n1, n2], [t1, t2]) or float("nan"), 2)
            for (n1, t1), (n2, t2) in zip(done, done[1:], strict=False)
        ]
        shuffled = [
            (run["triplet_lines"], shuffle_bytes(run["steps"][step]))
            for run in runs
            if run.get("steps", {}).get(step, {}).get("status") == "ok"
            and shuffle_bytes(run["steps"][step])
        ]
        shuffle_slope = growth_exponent([n for n, _ in shuffled], [b for _, b in shuffled])
        steps[step] = {
            "exponent": None if slope is None else round(slope, 2),
            "pairwise": pairwise,
            "shuffle_exponent": None if shuffle_slope is None else round(shuffle_slope, 2),
            "shuffle_pairwise": [
                round(growth_exponent([n1, n2], [b1, b2]) or float("nan"), 2)
                for (n1, b1), (n2, b2) in zip(shuffled, shuffled[1:], strict=False)
            ],
            "note": growth_note(step, slope),
        }
    totals = [(r["triplet_lines"], r["total_seconds"]) for r in runs if r.get("total_seconds")]
    total = growth_exponent([n for n, _ in totals], [t for _, t in totals]) if totals else None
    steps["total"] = {
        "exponent": None if total is None else round(total, 2),
        "note": growth_note("total", total),
    }
    return steps


def shuffle_bytes(entry: dict[str, Any]) -> float | None:
    """The shuffle bytes a step wrote (None when the status store was not read)."""
    figures = entry.get("spark") or {}
    return figures.get("shuffle_write_bytes") if figures.get("available") else None


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _num(value: Any) -> float:
    return -1.0 if value is None else float(value)


def markdown(doc: dict[str, Any]) -> str:
    """The suite's results as Markdown tables."""
    runs, growth = doc["runs"], doc["growth"]
    out = [
        f"# Benchmark suite ({doc['started']})",
        "",
        f"Machine: {doc['machine']['cores']} cores, load average at start "
        f"{', '.join(f'{x:.1f}' for x in doc['machine']['load_average'])}, "
        f"Python {doc['machine']['python']}, config `{doc['conf']}`"
        + (f" with `{' '.join(doc['overrides'])}`" if doc["overrides"] else "")
        + ". Load average after each size: "
        + "; ".join(
            f"{r['triplet_lines']:,}: {', '.join(map(str, r.get('load_average_after', [])))}"
            for r in runs
        )
        + ".",
        "",
        "## Seconds per step",
        "",
    ]
    steps = list(dict.fromkeys(s for r in runs for s in r.get("steps", {})))
    header = ["step"] + [f"{r['triplet_lines']:,} triplets" for r in runs] + ["growth exp."]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in steps:
        cells = [step]
        for r in runs:
            s = r.get("steps", {}).get(step)
            if s is None:
                cells.append("-")
            elif s["status"] != "ok":
                cells.append(f"{s['status']} ({s['seconds']:.0f} s)")
            else:
                cells.append(f"{s['seconds']:.1f}")
        cells.append(_fmt(growth.get(step, {}).get("exponent"), 2))
        out.append("| " + " | ".join(cells) + " |")
    total = ["**total**"] + [_fmt(r.get("total_seconds")) for r in runs]
    out.append("| " + " | ".join(total + [_fmt(growth["total"]["exponent"], 2)]) + " |")
    out += ["", "## Rows per second (triplet lines / step seconds)", ""]
    header = ["step"] + [f"{r['triplet_lines']:,}" for r in runs]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in steps:
        cells = [step]
        for r in runs:
            s = r.get("steps", {}).get(step)
            cells.append(_fmt(s.get("rows_per_second"), 0) if s else "-")
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "## Shuffle written (MB / million records; Spark's status store)", ""]
    header = ["step"] + [f"{r['triplet_lines']:,}" for r in runs] + ["bytes growth exp."]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in steps:
        cells = [step]
        for r in runs:
            figures = (r.get("steps", {}).get(step) or {}).get("spark") or {}
            if not figures.get("available"):
                cells.append("-")
                continue
            mb = figures.get("shuffle_write_bytes", 0) / 2**20
            records = figures.get("shuffle_write_records", 0) / 1e6
            cells.append(f"{mb:.1f} / {records:.2f}")
        cells.append(_fmt(growth.get(step, {}).get("shuffle_exponent"), 2))
        out.append("| " + " | ".join(cells) + " |")
    for step in steps:
        out += query_table(runs, step)
    out += ["", "## Driver memory (MB)", ""]
    header = [
        "size",
        "JVM heap peak",
        "JVM old-gen peak",
        "JVM live after a step (max)",
        "JVM resident peak",
        "Python peak",
    ]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in runs:
        steps_done = r.get("steps", {}).values()
        heap = max((s.get("jvm_heap_peak_mb") or 0.0 for s in steps_done), default=None)
        old = max((s.get("jvm_old_gen_peak_mb") for s in steps_done), default=None, key=_num)
        live = max((s.get("jvm_live_heap_mb") for s in steps_done), default=None, key=_num)
        mem = r.get("memory", {})
        out.append(
            f"| {r['triplet_lines']:,} | {_fmt(heap, 0)} | {_fmt(old, 0)} | {_fmt(live, 0)} | "
            f"{_fmt(mem.get('jvm_rss_peak_mb'), 0)} | {_fmt(mem.get('python_rss_peak_mb'), 0)} |"
        )
    out += [
        "",
        "Heap peak: the sum of the heap pools' peaks in the step (an upper bound; it can pass "
        "the heap size). Old-gen peak: the old generation's peak, garbage not yet collected "
        "included. Live after a step: the heap in use after a full collection at the step's end "
        "(what the driver holds). Resident: the whole driver JVM, which "
        "in local mode also runs the executor.",
    ]
    out += python_by_step(runs, steps)
    out += [
        "",
        "## Growth",
        "",
    ]
    for step, g in growth.items():
        pair = (
            f" (between sizes: {', '.join(map(str, g['pairwise']))})" if g.get("pairwise") else ""
        )
        out.append(f"- **{step}**: exponent {_fmt(g['exponent'], 2)}{pair}: {g['note']}")
    failed = [
        f"{r['triplet_lines']:,} triplets, {name}: {s['error']}"
        for r in runs
        for name, s in r.get("steps", {}).items()
        if s.get("error")
    ] + [f"{r['triplet_lines']:,} triplets: {r['error']}" for r in runs if r.get("error")]
    if failed:
        out += ["", "## Failures and refusals", ""] + [f"- {f}" for f in failed]
    if doc.get("peers"):
        out += ["", "## Peer ratios", ""]
        for name, peer in doc["peers"].items():
            if "error" in peer:
                out.append(f"- {name}: not measured ({peer['error']})")
                continue
            out.append(f"- {name} ({_fmt(peer.get('triplets'))} triplets):")
            for label, value in peer.get("ratios", {}).items():
                out.append(f"  - {label}: {value:.2f}x")
    return "\n".join(out) + "\n"


def query_table(runs: list[dict], step: str, top: int = 6) -> list[str]:
    """Markdown lines: ``step``'s largest queries (by the largest size's shuffle bytes; queries
    with the same table or call site summed) at each size, and their bytes exponent between the
    two largest sizes: which query grows faster than the data. Empty without figures."""
    sizes, per_size = [], []
    for r in runs:
        figures = (r.get("steps", {}).get(step) or {}).get("spark") or {}
        if not figures.get("queries"):
            continue
        summed: dict[str, list[int]] = {}
        for q in figures["queries"]:
            acc = summed.setdefault(q["what"], [0, 0])
            acc[0] += q["shuffle_write_bytes"]
            acc[1] += q["shuffle_write_records"]
        sizes.append(r["triplet_lines"])
        per_size.append(summed)
    if not per_size:
        return []
    names = sorted(per_size[-1], key=lambda w: -per_size[-1][w][0])[:top]
    header = ["query", *(f"{n:,}" for n in sizes), "bytes exp."]
    out = ["", f"### {step}: largest queries (MB / million records shuffled)", ""]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        cells = [f"`{name}`"]
        cells += [
            f"{q[name][0] / 2**20:.1f} / {q[name][1] / 1e6:.2f}" if name in q else "-"
            for q in per_size
        ]
        pair = [q.get(name, [0])[0] for q in per_size[-2:]]
        slope = growth_exponent(sizes[-2:], pair) if len(pair) == 2 and min(pair) > 0 else None
        out.append("| " + " | ".join(cells + [_fmt(slope, 2)]) + " |")
    return out


# ----------------------------------------------------------------------------- one size


def _jvm_heap_pools(spark) -> list:
    jvm = spark.sparkContext._jvm
    pools = jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
    return [p for p in pools if p.getType().name() == "HEAP"]


def live_heap_mb(spark) -> float:
    """The driver JVM's heap in use after a full collection (``System.gc()``, which G1 runs
    as a full, stop-the-world collection): what it still holds, not what awaits collection.

    The collection is repeated (up to five times) until two readings agree within 1 MB:
    what one collection finds unreachable can free more once Spark's cleaner thread has
    released the blocks and broadcasts it tracked, and a single reading then overstates.
    Spark's listener bus is drained first: events still queued from earlier jobs would
    otherwise land in the status store between two readings (CI once saw 170 MB)."""
    jvm = spark.sparkContext._jvm
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    bean = jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
    last = None
    for _ in range(5):
        jvm.java.lang.System.gc()
        used = bean.getHeapMemoryUsage().getUsed() / 2**20
        if last is not None and abs(used - last) < 1.0:
            break
        last = used
    return round(used, 1)


def python_by_step(runs: list[dict[str, Any]], steps: list[str]) -> list[str]:
    """The driver's Python after each step (peak so far / resident), per size: the step that
    raises the peak is the one holding what grows. Empty for records without the figures."""
    if not any("python_rss_peak_mb" in s for r in runs for s in r.get("steps", {}).values()):
        return []
    out = ["", "## Driver Python after each step (MB: peak so far / resident)", ""]
    header = ["step"] + [f"{r['triplet_lines']:,}" for r in runs]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in steps:
        cells = [step]
        for r in runs:
            s = r.get("steps", {}).get(step) or {}
            peak, now = s.get("python_rss_peak_mb"), s.get("python_rss_mb")
            cells.append(f"{_fmt(peak, 0)} / {_fmt(now, 0)}" if peak is not None else "-")
        out.append("| " + " | ".join(cells) + " |")
    return out


def python_peak_mb() -> float | None:
    """This process's own peak resident memory (VmHWM of its address space). Not
    ``getrusage``'s ``ru_maxrss``: Linux carries that across ``execve``, so a child started by
    a parent that generated the data reports the parent's peak."""
    return _proc_status_mb(os.getpid(), "VmHWM")


def _proc_status_mb(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_one_size(args: argparse.Namespace) -> dict[str, Any]:
    """Child process: run every step on one generated data set, measure, return the record."""
    from recsys import config
    from recsys.errors import JobFailed, WarehouseError
    from recsys.session import build_session
    from recsys.steps import STEPS, run_steps

    try:
        from recsys.steps import stagestats
    except ImportError:  # a commit before the status-store figures (a before/after reference)
        stagestats = None

    work = Path(args.work)
    raw = Path(args.raw)
    planted = json.loads((raw / "_planted" / "planted.json").read_text())
    cfg = config.load(
        args.conf,
        [
            f"input.dir={raw}",
            f"warehouse.dir={work / 'warehouse'}",
            f"spark.checkpoint_dir={work / 'checkpoints'}",
            *args.set,
        ],
    )
    record: dict[str, Any] = {
        "triplet_lines": planted["triplet_lines"],
        "users": planted["n_users"],
        "songs": planted["catalogue_songs"],
        "steps": {},
    }
    started = time.perf_counter()
    spark = build_session(cfg)
    record["session_seconds"] = round(time.perf_counter() - started, 1)
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    names = args.steps.split(",") if args.steps else [s.name for s in STEPS]
    try:
        for name in names:
            pools = _jvm_heap_pools(spark)
            for pool in pools:
                pool.resetPeakUsage()
            step_started = time.perf_counter()
            stage_mark = stagestats.mark(spark) if stagestats else None
            entry: dict[str, Any] = {"status": "ok"}
            try:
                summary = run_steps(spark, cfg, args.run_id, [name], log=lambda line: None)
                entry["summary"] = {
                    k: v
                    for k, v in summary[name].items()
                    if isinstance(v, (int, float, str)) and k != "seconds"
                }
            except (JobFailed, WarehouseError) as exc:
                entry["status"] = "refused" if name == "publish" else "failed"
                entry["error"] = str(exc)[:400]
            seconds = time.perf_counter() - step_started
            entry["seconds"] = round(seconds, 2)
            # shuffle bytes and records from Spark's status store: they do not depend on load
            if stagestats is not None:
                entry["spark"] = stagestats.figures_since(spark, stage_mark)
            entry["rows_per_second"] = round(record["triplet_lines"] / seconds, 1)
            entry["jvm_heap_peak_mb"] = round(
                sum(p.getPeakUsage().getUsed() for p in pools) / 2**20, 1
            )
            # the old generation's peak: what stayed live, without young-gen churn
            entry["jvm_old_gen_peak_mb"] = round(
                sum(p.getPeakUsage().getUsed() for p in pools if "Old" in p.getName()) / 2**20, 1
            )
            # what the driver JVM still holds after the step: its heap after a full collection
            # (the old-gen peak above includes garbage no collection had reclaimed yet)
            entry["jvm_live_heap_mb"] = live_heap_mb(spark)
            # the driver's Python: its peak so far (a step that raises it shows here) and now
            entry["python_rss_peak_mb"] = python_peak_mb()
            entry["python_rss_mb"] = _proc_status_mb(os.getpid(), "VmRSS")
            record["steps"][name] = entry
            print(
                f"  {record['triplet_lines']:,} triplets  {name:<10} {seconds:8.1f} s", flush=True
            )
            if entry["status"] == "failed":
                break
    finally:
        record["memory"] = {
            "jvm_rss_peak_mb": _proc_status_mb(jvm_pid, "VmHWM"),
            "python_rss_peak_mb": python_peak_mb(),
            "driver_memory_setting": cfg.spark.driver_memory,
        }
        record["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
        spark.stop()
    ok = [s["seconds"] for s in record["steps"].values() if s["status"] != "failed"]
    record["total_seconds"] = round(sum(ok), 1) if len(ok) == len(names) else None
    return record


# ----------------------------------------------------------------------------- orchestration


def generate(n_triplets: int, folder: Path, seed: int, song_exponent: float) -> Path:
    """Raw files for one size, reused when the folder already holds the same data set."""
    import sampledata as sample_data

    marker = folder / "_planted" / "suite.json"
    wanted = {"n_triplets": n_triplets, "seed": seed, "song_exponent": song_exponent}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return folder
    preset = sample_data.preset_for_triplets(n_triplets, "small", song_exponent)
    sample_data.generate(folder, size=preset, seed=seed)
    marker.write_text(json.dumps(wanted))
    return folder


def als_ratios(doc: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    """bench_als.py's JSON -> (size, its ratios)."""
    return doc.get("triplets"), doc.get("ratios", {})


def lsh_ratios(doc: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    """bench_lsh.py's JSON -> (songs, exact seconds / LSH seconds for each setting)."""
    rows = doc.get("rows", [])
    exact = next((r["seconds"] for r in rows if r["method"] == "exact"), None)
    ratios = {}
    for r in rows:
        if r["method"] != "lsh" or not exact or not r["seconds"]:
            continue
        label = (
            "exact / LSH seconds, bl={bucket_length} L={num_hash_tables} r={hashes_per_table} "
            "B={max_candidates} (recall@{k} {recall:.3f})"
        ).format(k=doc.get("k"), **r)
        ratios[label] = exact / r["seconds"]
    return f"{doc.get('songs')} songs", ratios


def run_peer(script: Path, extra: list[str], timeout: int, ratios_of) -> dict[str, Any]:
    """Run a peer benchmark script and merge the ratios of the JSON it wrote."""
    if not script.exists():
        return {"error": f"{script.name} is not in this checkout"}
    started = time.time()
    prefix = script.stem + "-"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        proc = subprocess.run(
            [sys.executable, str(script), *extra],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"}
    written = [p for p in RESULTS.glob(prefix + "*.json") if p.stat().st_mtime >= started - 1]
    if not written:
        return {"error": "it wrote no JSON under bench/results/"}
    newest = max(written, key=lambda p: p.stat().st_mtime)
    size, ratios = ratios_of(json.loads(newest.read_text()))
    return {"triplets": size, "ratios": ratios, "file": str(newest.relative_to(REPO))}


def run_peers(args: argparse.Namespace, work: Path, sizes: list[int]) -> dict[str, Any]:
    """bench_als at --peer-triplets; bench_lsh on the smallest size's content vectors."""
    peer_n = str(parse_size(args.peer_triplets))
    wanted = set(args.peer_names.split(","))
    peers: dict[str, Any] = {}
    if "als" in wanted:
        peers["bench_als (train-als peers)"] = run_peer(
            REPO / "bench" / "bench_als.py", ["--triplets", peer_n], args.timeout, als_ratios
        )
    if "lsh" not in wanted:
        return peers
    vectors = [work / f"run-{n}" / "warehouse" for n in sizes]
    found = [w for w in vectors if (w / "runs" / args.run_id / "content_vectors").is_dir()]
    lsh_args = (
        ["--warehouse", str(found[0]), "--run-id", args.run_id]
        if found
        else ["--synthetic", "20000"]
    )
    peers["bench_lsh (neighbours peers)"] = run_peer(
        REPO / "bench" / "bench_lsh.py", lsh_args, args.timeout, lsh_ratios
    )
    return peers


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help="triplet counts, e.g. 0.5M,2M,8M")
    ap.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--steps", default="", help="comma-separated subset; default all STEPS")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--song-exponent",
        type=float,
        default=1.0,
        help="catalogue songs grow as size**exponent (1.0: constant matrix density)",
    )
    ap.add_argument("--work", default="", help="data and warehouses (default: a temp folder)")
    ap.add_argument("--peers", action="store_true", help="also run bench_als / bench_lsh once")
    ap.add_argument("--peer-triplets", default="1M", help="size for bench_als.py")
    ap.add_argument("--peer-names", default="als,lsh", help="which peers --peers runs")
    ap.add_argument("--update", default="", help="add peers to this earlier suite-*.json")
    ap.add_argument("--render", default="", help="redraw the Markdown of this suite-*.json")
    ap.add_argument("--timeout", type=int, default=4 * 3600, help="seconds per size")
    ap.add_argument("--run-id", default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--one-size", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--raw", default="", help=argparse.SUPPRESS)
    ap.add_argument("--record", default="", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one_size:
        record = run_one_size(args)
        Path(args.record).write_text(json.dumps(record, indent=2))
        return 0
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_suite_"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.render:  # only redraw the Markdown of an earlier result
        previous = Path(args.render)
        doc = json.loads(previous.read_text())
        doc["growth"] = summarise(doc["runs"])
        write_results(doc, previous.stem.removeprefix("suite-"))
        print(markdown(doc))
        return 0
    if args.update:  # add the peers to an earlier suite result (same --work and --sizes)
        previous = Path(args.update)
        doc = json.loads(previous.read_text())
        doc["peers"] = run_peers(args, work, sizes)
        write_results(doc, previous.stem.removeprefix("suite-"))
        print(markdown(doc))
        return 0
    stamp = time.strftime("%Y%m%dT%H%M%S")
    doc: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "conf": os.path.relpath(args.conf, REPO),
        "overrides": args.set,
        "song_exponent": args.song_exponent,
        "machine": {
            "cores": os.cpu_count(),
            "load_average": list(os.getloadavg()),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "runs": [],
    }
    for n in sizes:
        print(f"size {n:,} triplets: generating data ...", flush=True)
        t0 = time.perf_counter()
        raw = generate(n, work / f"data-{n}", args.seed, args.song_exponent)
        gen_seconds = round(time.perf_counter() - t0, 1)
        size_dir = work / f"run-{n}"
        if size_dir.exists():
            subprocess.run(["rm", "-rf", str(size_dir)], check=True)
        size_dir.mkdir(parents=True)
        record_path = size_dir / "record.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one-size"]
        cmd += ["--raw", str(raw), "--work", str(size_dir), "--record", str(record_path)]
        cmd += ["--conf", args.conf, "--steps", args.steps, "--run-id", args.run_id]
        for item in args.set:
            cmd += ["--set", item]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        try:
            proc = subprocess.run(cmd, env=env, timeout=args.timeout)
            failed = proc.returncode != 0
        except subprocess.TimeoutExpired:
            failed = True
        if record_path.exists():
            record = json.loads(record_path.read_text())
        else:
            planted = json.loads((raw / "_planted" / "planted.json").read_text())
            record = {"triplet_lines": planted["triplet_lines"], "steps": {}}
        if failed:
            record["error"] = "the size's process failed or timed out; see its output above"
        record["generate_seconds"] = gen_seconds
        doc["runs"].append(record)
        doc["growth"] = summarise(doc["runs"])
        write_results(doc, stamp)  # after every size, so a long suite leaves partial results
    if args.peers:
        doc["peers"] = run_peers(args, work, sizes)
        write_results(doc, stamp)
    print(markdown(doc))
    return 0


def write_results(doc: dict[str, Any], stamp: str) -> None:
    base = RESULTS / f"suite-{stamp}"
    base.with_suffix(".json").write_text(json.dumps(doc, indent=2))
    text = markdown(doc)
    base.with_suffix(".md").write_text(text)
    (RESULTS / "latest.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
