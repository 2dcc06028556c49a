"""Benchmark: the bytes one viewer lookup reads from a run's tables.

Each lookup is the viewer's own read (``Warehouse.read_table_arrow`` with the filter pushed
into the scan) for a sample of users and songs; the bytes are this process's ``rchar`` from
``/proc/self/io`` around the read (every byte read by a system call, page cache or not), so
they measure what the scan asked for, on a local warehouse. Prints, per lookup, the median and
largest bytes read beside the table's size on disk::

    python bench/bench_lookup.py --warehouse warehouse [--run-id RUN] [--sample 20]

Linux only (``/proc``). A table written before lookup tables were clustered by their key
(``recsys.storage.warehouse.LOOKUP_KEYS``) reads close to all of its files per lookup.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys import names  # noqa: E402
from recsys.storage.warehouse import Warehouse  # noqa: E402


def rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no rchar line")


def table_bytes(wh: Warehouse, run_id: str, table: str) -> int:
    return sum(p.stat().st_size for p in Path(wh.table_uri(run_id, table)).rglob("*.parquet"))


def measure(read) -> int:
    before = rchar()
    read()
    return rchar() - before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", required=True, help="a local warehouse folder")
    ap.add_argument("--run-id", help="default: the latest published run")
    ap.add_argument("--sample", type=int, default=20, help="users and songs looked up")
    args = ap.parse_args(argv)
    wh = Warehouse(args.warehouse)
    run_id = args.run_id or wh.latest_run_id()
    if run_id is None:
        ap.error(f"{args.warehouse} has no published run: give --run-id")
    users = wh.read_table_arrow(run_id, names.USERS, columns=[names.USER, names.USER_ID])
    users = users.sample(min(args.sample, len(users)), random_state=7)
    songs = wh.read_table_arrow(run_id, names.SIMILAR_SONGS, columns=[names.SONG])
    songs = songs[names.SONG].drop_duplicates().sample(min(args.sample, len(songs)), random_state=7)
    lookups = {
        names.INTERACTIONS: [(names.USER, "==", int(u)) for u in users[names.USER]],
        names.USER_RECOMMENDATIONS: [(names.USER, "==", int(u)) for u in users[names.USER]],
        names.USERS: [(names.USER_ID, "==", str(u)) for u in users[names.USER_ID]],
        names.SIMILAR_SONGS: [(names.SONG, "==", int(s)) for s in songs],
    }
    print(f"run {run_id} of {args.warehouse}: {args.sample} lookups per table")
    print(f"{'table (key)':<34} {'table MB':>9} {'median KB':>10} {'max KB':>9} {'share':>7}")
    for table, filters in lookups.items():
        size = table_bytes(wh, run_id, table)
        read = [
            measure(lambda t=table, f=f: wh.read_table_arrow(run_id, t, filters=[f]))
            for f in filters
        ]
        median = statistics.median(read)
        key = filters[0][0] if filters else "-"
        print(
            f"{table + ' (' + key + ')':<34} {size / 2**20:>9.1f} {median / 1024:>10.1f} "
            f"{max(read) / 1024:>9.1f} {median / size:>7.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
