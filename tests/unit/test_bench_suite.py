"""The benchmark suite's pure helpers (no timing is asserted) and the sample-data scaling."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

import sampledata as sample_data
from tests.support import REPO


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("run_suite", REPO / "bench" / "run_suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "text, n", [("0.5M", 500_000), ("2m", 2_000_000), ("750k", 750_000), ("1_200_000", 1_200_000)]
)
def test_parse_size(suite, text, n):
    assert suite.parse_size(text) == n


def test_parse_size_refuses_nonsense(suite):
    with pytest.raises(ValueError, match="'lots'"):
        suite.parse_size("lots")
    with pytest.raises(ValueError, match="at least 1000"):
        suite.parse_size("10")


@pytest.mark.parametrize("k", [0.5, 1.0, 2.0])
def test_growth_exponent_recovers_a_power_law(suite, k):
    sizes = [5e5, 2e6, 8e6]
    seconds = [3.0 * (n / 1e5) ** k for n in sizes]
    assert suite.growth_exponent(sizes, seconds) == pytest.approx(k)
    assert suite.growth_exponent([1e6], [4.0]) is None


def test_growth_notes_name_the_regime(suite):
    assert suite.growth_note("ingest", 1.05) == "close to linear"
    assert suite.growth_note("ingest", 0.3).startswith("sublinear: fixed costs")
    assert "users x songs" in suite.growth_note("train-als", 1.8)
    assert suite.growth_note("x", None) == "one size only"


def _run(n, ingest_s, als_s, status="ok"):
    steps = {
        "ingest": {"status": "ok", "seconds": ingest_s, "rows_per_second": n / ingest_s},
        "train-als": {"status": status, "seconds": als_s, "rows_per_second": n / als_s},
    }
    if status != "ok":
        steps["train-als"]["error"] = "boom"
    total = ingest_s + als_s if status == "ok" else None
    for step in steps.values():  # shuffle bytes 100x the seconds, 1,000 bytes per record
        b = 100 * 2**20 * step["seconds"]
        step["spark"] = {
            "available": True,
            "shuffle_write_bytes": b,
            "shuffle_write_records": b / 1e3,
        }
    return {"triplet_lines": n, "steps": steps, "total_seconds": total, "memory": {}}


def test_summary_and_markdown(suite):
    runs = [
        _run(500_000, 10.0, 5.0),
        _run(2_000_000, 40.0, 80.0),
        _run(8_000_000, 160.0, 1.0, "failed"),
    ]
    growth = suite.summarise(runs)
    assert growth["ingest"]["exponent"] == pytest.approx(1.0)
    assert growth["ingest"]["pairwise"] == [1.0, 1.0]
    assert growth["train-als"]["exponent"] == pytest.approx(2.0)  # the failed size is left out
    assert growth["train-als"]["note"].startswith("superlinear")
    assert growth["train-als"]["shuffle_exponent"] == pytest.approx(2.0)
    assert growth["ingest"]["shuffle_pairwise"] == [1.0, 1.0]
    doc = {
        "started": "now",
        "conf": "conf/local.yaml",
        "overrides": [],
        "machine": {"cores": 2, "load_average": [1.0, 1.0, 1.0], "python": "3.11"},
        "runs": runs,
        "growth": growth,
        "peers": {"bench_als": {"triplets": 10, "ratios": {"a / b": 2.5}}, "x": {"error": "no"}},
    }
    text = suite.markdown(doc)
    assert "| ingest | 10.0 | 40.0 | 160.0 | 1.00 |" in text
    # 10 s -> 1000 MB written in 1.05 million records; the bytes grow like the seconds
    assert "| ingest | 1000.0 / 1.05 | 4000.0 / 4.19 | 16000.0 / 16.78 | 1.00 |" in text
    assert "failed (1 s)" in text and "8,000,000 triplets, train-als: boom" in text
    assert "  - a / b: 2.50x" in text and "x: not measured (no)" in text
    json.dumps(doc)  # the record is plain JSON


def test_query_table_names_the_query_that_grows_faster(suite):
    def run(n, pool_bytes, write_bytes):
        queries = [  # two queries of one call site count as one
            {"what": "a.py:1", "shuffle_write_bytes": pool_bytes // 2, "shuffle_write_records": 10},
            {"what": "a.py:1", "shuffle_write_bytes": pool_bytes // 2, "shuffle_write_records": 10},
            {"what": "users", "shuffle_write_bytes": write_bytes, "shuffle_write_records": 5},
        ]
        spark = {"available": True, "queries": queries}
        return {"triplet_lines": n, "steps": {"hybrid": {"spark": spark}}}

    mb = 2**20
    lines = suite.query_table([run(1_000, 4 * mb, 2 * mb), run(2_000, 8 * mb, 10 * mb)], "hybrid")
    rows = [line for line in lines if line.startswith("| `")]
    # largest at the largest size first; 2 MB -> 10 MB for twice the data is exponent 2.32
    assert rows == [
        "| `users` | 2.0 / 0.00 | 10.0 / 0.00 | 2.32 |",
        "| `a.py:1` | 4.0 / 0.00 | 8.0 / 0.00 | 1.00 |",
    ]
    assert suite.query_table([{"triplet_lines": 1, "steps": {}}], "hybrid") == []


def test_preset_for_triplets_scales_users_and_songs():
    p = sample_data.preset_for_triplets(2_000_046, "small")
    small = sample_data.SIZES["small"]
    assert p.n_users == pytest.approx(4 * small.n_users, rel=0.01)
    assert p.n_songs == pytest.approx(4 * small.n_songs, rel=0.01)
    sparse = sample_data.preset_for_triplets(2_000_046, "small", song_exponent=0.5)
    assert sparse.n_songs == pytest.approx(2 * small.n_songs, rel=0.01)
    with pytest.raises(ValueError, match="cannot be scaled"):
        sample_data.preset_for_triplets(10_000, "large")


def test_scaled_preset_lands_near_the_asked_size(tmp_path):
    planted = sample_data.generate(tmp_path, sample_data.preset_for_triplets(12_000, "tiny"), 7)
    assert planted["triplet_lines"] == pytest.approx(12_000, rel=0.1)
    assert planted["n_users"] == round(sample_data.SIZES["tiny"].n_users * 12_000 / 6_130)


def test_peer_ratios_from_their_json(suite):
    als = {"triplets": 1000, "ratios": {"recommendForAllUsers / numpy top-N": 6.0}}
    assert suite.als_ratios(als) == (1000, als["ratios"])
    lsh = {
        "songs": 50,
        "k": 10,
        "rows": [
            {"method": "exact", "seconds": 8.0, "recall": 1.0},
            {
                "method": "lsh",
                "seconds": 2.0,
                "recall": 0.9,
                "bucket_length": 0.2,
                "num_hash_tables": 3,
                "hashes_per_table": 1,
                "max_candidates": 200,
            },
        ],  # fmt: skip
    }
    size, ratios = suite.lsh_ratios(lsh)
    assert size == "50 songs"
    assert ratios == {"exact / LSH seconds, bl=0.2 L=3 r=1 B=200 (recall@10 0.900)": 4.0}


def test_python_by_step_shows_the_step_that_raises_the_peak(suite):
    def run(n, peaks):
        steps = {
            name: {"python_rss_peak_mb": peak, "python_rss_mb": peak - 10.0}
            for name, peak in peaks.items()
        }
        return {"triplet_lines": n, "steps": steps}

    runs = [run(1_000, {"ingest": 200.0, "hybrid": 250.0}), run(2_000, {"ingest": 201.0})]
    lines = suite.python_by_step(runs, ["ingest", "hybrid"])
    assert "| ingest | 200 / 190 | 201 / 191 |" in lines
    assert "| hybrid | 250 / 240 | - |" in lines
    assert suite.python_by_step([{"triplet_lines": 1, "steps": {"ingest": {}}}], ["ingest"]) == []


def test_the_python_peak_is_the_childs_own_not_the_parents(tmp_path):
    """A parent that held 300 MB starts a child: the child's figure is its own peak, while
    ``ru_maxrss`` (what the suite read before) reports the parent's."""
    script = str(REPO / "bench" / "run_suite.py")
    code = (
        "import importlib.util, resource, sys\n"
        f"spec = importlib.util.spec_from_file_location('s', {script!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(m.python_peak_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    parent = (
        "import subprocess, sys\n"
        "held = bytearray(300 * 2**20)\n"
        "for i in range(0, len(held), 4096): held[i] = 1\n"
        f"subprocess.run([sys.executable, '-c', {code!r}], check=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", parent], check=True, capture_output=True, text=True, cwd=REPO
    ).stdout.split()
    own, inherited = float(out[-2]), float(out[-1])
    assert inherited > 300  # Linux carries ru_maxrss across execve
    assert own < 200  # the child itself: an interpreter, pandas and numpy at most


def test_live_heap_counts_what_the_driver_holds_not_its_garbage(suite, spark):
    """The figure behind the bar "driver memory within 25%": a 512 MB array the driver JVM
    holds shows in it; once dropped (garbage, never collected by anyone else) it does not.

    The shared session's own heap can still move between readings (live_heap_mb drains the
    listener bus, yet CI once saw the status store grow 170 MB across two readings), so the
    array is large beside that, the bar is three quarters of it, and a reading disturbed by
    the session is taken again (up to three times): garbage counted as live fails every time."""
    gaps = []
    for _ in range(3):
        before = suite.live_heap_mb(spark)
        # an ArrayList of 128M slots: its backing array is 512 MB of references (compressed oops)
        holder = spark.sparkContext._jvm.java.util.ArrayList(128 * 2**20)
        holding = suite.live_heap_mb(spark)
        holder.trimToSize()  # the list is empty, so the array goes: garbage from here on
        after = suite.live_heap_mb(spark)
        gaps.append((holding - before, holding - after))
        if min(gaps[-1]) >= 384:
            break
    assert min(gaps[-1]) >= 384, gaps


def test_markdown_reports_the_live_heap_column(suite):
    runs = [_run(500_000, 10.0, 5.0), _run(2_000_000, 40.0, 80.0)]
    runs[0]["steps"]["ingest"]["jvm_live_heap_mb"] = 100.0
    runs[0]["steps"]["train-als"]["jvm_live_heap_mb"] = 150.4
    doc = {
        "started": "now",
        "conf": "c",
        "overrides": [],
        "machine": {"cores": 2, "load_average": [1.0], "python": "3.11"},
        "runs": runs,
        "growth": suite.summarise(runs),
    }
    text = suite.markdown(doc)
    assert "JVM live after a step (max)" in text
    assert "| 500,000 | 0 | - | 150 | - | - |" in text
    assert "| 2,000,000 | 0 | - | - | - | - |" in text
