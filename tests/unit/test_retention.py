"""``recsys runs list`` and ``recsys runs prune`` (recsys/storage/retention.py) on a local
warehouse and on S3 (moto's server), over small Parquet tables written with pyarrow."""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from recsys import config
from recsys.cli import main
from recsys.errors import ConfigError, StorageError
from recsys.storage import files as storage
from recsys.storage import retention
from recsys.storage.warehouse import Warehouse
from tests.unit.viewer.test_s3 import moto_endpoints, s3_env  # noqa: F401 - fixtures

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
H, D = dt.timedelta(hours=1), dt.timedelta(days=1)
TABLES = ("interactions", "songs", "user_recommendations")
DOCS = ("blend.json", "evaluation.json", "evaluation.md", "manifest.json", "quality_report.json")
FAILED = ("input_quality", "beats_popularity")

# (run id, kind, age at NOW). "adhoc-a" sorts first by id but third by its manifest's time.
LAYOUT = (
    ("2026-12-01", "incomplete", 2 * H),  # being written: in progress
    ("2026-11-30", "refused", 1 * D),
    ("adhoc-a", "refused", 5 * D),
    ("2026-11-22", "refused", 9 * D),
    ("2026-11-20", "latest", 11 * D),
    ("2026-11-10", "published", 21 * D),
    ("2026-11-01", "pruned", 30 * D),  # pruned before: documents and pruned.json only
    ("2026-10-01", "incomplete", 61 * D),  # died two months ago
)
ORDER = [run_id for run_id, _, _ in LAYOUT]
PRUNED_BY_DEFAULT = ["2026-11-22", "2026-11-10", "2026-10-01"]  # keep 2, 7 days, 24 hours
POLICY = retention.Policy(keep=2, min_age_days=7, in_progress_hours=24)
BY = {"command": "test", "user": "tester", "host": "here"}


# ---------------------------------------------------------------------- building warehouses
def _table(wh: Warehouse, run_id: str, name: str, complete: bool = True) -> None:
    uri = wh.table_uri(run_id, name)
    fs, path = storage.filesystem(uri)
    data = pa.table({"user_idx": [1, 2, 3], "score": [0.5, 0.25, 0.125]})
    if name == "songs":  # a partitioned table: files one level down
        path = f"{path}/bucket=0"
    if isinstance(fs, pafs.LocalFileSystem):
        os.makedirs(path, exist_ok=True)
    pq.write_table(data, f"{path}/part-00000.parquet", filesystem=fs)
    if complete:
        storage.write_bytes_atomic(f"{uri}/_SUCCESS", b"")


def _manifest(run_id: str, created: dt.datetime, published: bool) -> dict:
    gates = [{"name": "tables_complete", "passed": True, "detail": "all tables complete"}]
    gates += [{"name": g, "passed": published, "detail": "..."} for g in FAILED]
    return {
        "run_id": run_id,
        "created_at": created.isoformat(timespec="seconds"),
        "gates": gates,
        "published": published,
    }


def write_run(wh: Warehouse, run_id: str, kind: str, created: dt.datetime) -> None:
    wh.write_json(run_id, "quality_report.json", {"passed": kind != "refused"})
    if kind == "incomplete":  # ingest finished, a later step died mid-write
        _table(wh, run_id, "interactions")
        _table(wh, run_id, "songs", complete=False)
    else:
        wh.write_json(run_id, "manifest.json", _manifest(run_id, created, kind != "refused"))
        wh.write_json(run_id, "evaluation.json", {"models": {"hybrid": {"ndcg@10": 0.1}}})
        wh.write_text(run_id, "evaluation.md", "# evaluation\n")
        wh.write_json(run_id, "blend.json", {"alpha": 0.75})
    if kind == "pruned":
        wh.write_json(run_id, "pruned.json", {"state": "pruned", "tables": list(TABLES)})
    elif kind != "incomplete":
        for name in TABLES:
            _table(wh, run_id, name)
        storage.write_bytes_atomic(wh.model_uri(run_id, "als") + "/metadata/part-00000", b"{}")
    if kind == "latest":
        wh.set_latest(run_id)
    if not storage.is_s3(wh.root):  # files dated when the run wrote them (S3 dates uploads)
        stamp = created.timestamp()
        for folder, _, names in os.walk(wh.run_uri(run_id)):
            for name in names:
                os.utime(os.path.join(folder, name), (stamp, stamp))


def build(root: str, now: dt.datetime, layout=LAYOUT) -> Warehouse:
    wh = Warehouse(root)
    for run_id, kind, age in layout:
        write_run(wh, run_id, kind, now - age)
    return wh


def snapshot(root: str) -> dict[str, bytes]:
    """Every file under ``root``: relative path -> bytes."""
    fs, base = storage.filesystem(root)
    out = {}
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as stream:
                out[info.path[len(base) + 1 :]] = stream.read()
    return out


def under(files: dict[str, bytes], run_id: str) -> dict[str, bytes]:
    prefix = f"runs/{run_id}/"
    return {k[len(prefix) :]: v for k, v in files.items() if k.startswith(prefix)}


def folders(files: dict[str, bytes], run_id: str) -> set[str]:
    return {k.split("/")[0] for k in under(files, run_id) if "/" in k}


def expected_after(before: dict[str, bytes], pruned: list[str]) -> set[str]:
    """The file names left once ``pruned`` lost their folders and gained pruned.json."""

    def goes(key: str) -> bool:
        parts = key.split("/")
        return len(parts) > 3 and parts[0] == "runs" and parts[1] in pruned

    return {k for k in before if not goes(k)} | {f"runs/{r}/pruned.json" for r in pruned}


def documents(files: dict[str, bytes], run_id: str) -> dict[str, bytes]:
    """The run's documents (files beside its folders), pruned.json aside."""
    return {k: v for k, v in under(files, run_id).items() if "/" not in k and k != "pruned.json"}


def rows(lines: list[str]) -> dict[str, list[str]]:
    """``recsys runs list`` lines (header dropped) split into cells, by run id."""
    assert lines[0].split() == ["RUN", "STATE", "TABLES", "PRUNED", "WHEN", "(UTC)"]
    cells = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    return {c[0]: c[1:] for c in cells}


@pytest.fixture()
def local(tmp_path) -> Warehouse:
    return build(str(tmp_path / "wh"), NOW)


# ---------------------------------------------------------------------- list
def test_list_says_each_runs_state_newest_first(local):
    lines = retention.format_runs(retention.scan(local))
    table = rows(lines)
    assert list(table) == ORDER  # by manifest time, else newest file: not by run id
    refused = "refused: " + ", ".join(FAILED)
    assert {r: c[:3] for r, c in table.items()} == {
        "2026-12-01": ["incomplete", "1 (+1 incomplete)", "no"],
        "2026-11-30": [refused, "3", "no"],
        "adhoc-a": [refused, "3", "no"],
        "2026-11-22": [refused, "3", "no"],
        "2026-11-20": ["published (latest)", "3", "no"],
        "2026-11-10": ["published", "3", "no"],
        "2026-11-01": ["published", "0", "yes"],
        "2026-10-01": ["incomplete", "1 (+1 incomplete)", "no"],
    }
    assert table["adhoc-a"][3] == (NOW - 5 * D).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------- prune
def test_plan_keeps_newest_latest_young_and_in_progress_runs(local):
    decisions = retention.plan(retention.scan(local), POLICY, NOW)
    reasons = {d.run.run_id: d.keep_reasons for d in decisions}
    assert reasons == {
        "2026-12-01": ("newest 2", "younger than 7 days", "in progress (2.0h ago)"),
        "2026-11-30": ("newest 2", "younger than 7 days"),
        "adhoc-a": ("younger than 7 days",),
        "2026-11-22": (),
        "2026-11-20": ("latest",),
        "2026-11-10": (),
        "2026-11-01": ("nothing left to delete",),
        "2026-10-01": (),
    }
    deleted = {d.run.run_id: sorted(f.name for f in d.delete) for d in decisions if d.delete}
    assert deleted == {
        "2026-11-22": ["interactions", "models", "songs", "user_recommendations"],
        "2026-11-10": ["interactions", "models", "songs", "user_recommendations"],
        "2026-10-01": ["interactions", "songs"],
    }


def test_keep_n_alone_keeps_the_newest_n(local):
    policy = retention.Policy(keep=4, min_age_days=0, in_progress_hours=1)
    decisions = retention.plan(retention.scan(local), policy, NOW)
    reasons = {d.run.run_id: d.keep_reasons for d in decisions}
    assert [reasons[r] for r in ORDER[:4]] == [("newest 4",)] * 4
    assert reasons["2026-11-20"] == ("latest",)
    assert [d.run.run_id for d in decisions if d.delete] == ["2026-11-10", "2026-10-01"]


def test_an_incomplete_run_in_progress_is_kept_without_min_age(tmp_path):
    layout = (
        ("new", "latest", 1 * H),
        ("ip", "incomplete", 3 * H),
        ("stale", "incomplete", 30 * H),
    )
    wh = build(str(tmp_path / "wh"), NOW, layout)
    policy = retention.Policy(keep=1, min_age_days=0, in_progress_hours=24)
    decisions = retention.plan(retention.scan(wh), policy, NOW)
    assert {d.run.run_id: d.keep_reasons for d in decisions} == {
        "new": ("newest 1", "latest", "written to (1.0h ago)"),
        "ip": ("in progress (3.0h ago)",),
        "stale": (),
    }


def test_prune_deletes_the_tables_of_the_others_and_keeps_their_documents(local):
    before = snapshot(local.root)
    decisions = retention.plan(retention.scan(local), POLICY, NOW)
    assert retention.prune(local, decisions, BY, POLICY, log=lambda line: None) == list(
        reversed(PRUNED_BY_DEFAULT)
    )
    after = snapshot(local.root)
    assert set(after) == expected_after(before, PRUNED_BY_DEFAULT)
    for run_id in ORDER:
        if run_id not in PRUNED_BY_DEFAULT:  # untouched, byte for byte
            assert under(after, run_id) == under(before, run_id), run_id
            continue
        assert storage.list_dirs(local.run_uri(run_id)) == []
        docs = documents(before, run_id)
        assert documents(after, run_id) == docs and len(docs) in (1, len(DOCS))
        doc = local.read_json(run_id, "pruned.json")
        assert doc["state"] == "pruned" and doc["by"] == BY
        assert doc["tables"] == sorted(folders(before, run_id))
        assert doc["documents_kept"] == sorted(docs)
        assert doc["policy"]["latest"] == "2026-11-20"
        assert not any(local.has_table(run_id, t) for t in TABLES)
    assert after["latest"] == before["latest"]
    table = rows(retention.format_runs(retention.scan(local)))
    assert {r for r, c in table.items() if c[2] == "yes"} == {*PRUNED_BY_DEFAULT, "2026-11-01"}
    assert all(table[r][1] == "0" for r in PRUNED_BY_DEFAULT)
    again = retention.plan(retention.scan(local), POLICY, NOW)  # nothing more to do
    assert [d.run.run_id for d in again if d.delete] == []


def test_prune_order_markers_before_files_pruned_json_around_both(local, monkeypatch):
    run_id = "2026-11-10"
    events: list[tuple] = []
    write_json, delete_dir = Warehouse.write_json, storage.delete_dir

    def logged_write(self, rid, name, doc):
        if name == "pruned.json":
            events.append(("pruned.json", doc["state"]))
        return write_json(self, rid, name, doc)

    def logged_delete_dir(uri):
        seen = [local.has_table(run_id, t) for t in TABLES]
        events.append(("dir", uri.rsplit("/", 1)[1], any(seen), _state(local, run_id)))
        delete_dir(uri)

    monkeypatch.setattr(Warehouse, "write_json", logged_write)
    monkeypatch.setattr(storage, "delete_dir", logged_delete_dir)
    real_delete_file = retention._delete_file
    monkeypatch.setattr(
        retention,
        "_delete_file",
        lambda uri: (events.append(("marker", uri)), real_delete_file(uri)),
    )
    decision = next(
        d for d in retention.plan(retention.scan(local), POLICY, NOW) if d.run.run_id == run_id
    )
    retention.prune_run(local, decision, BY, POLICY)
    assert events[0] == ("pruned.json", "pruning") and events[-1] == ("pruned.json", "pruned")
    markers = [e[1] for e in events if e[0] == "marker"]
    assert markers == [f"{local.table_uri(run_id, t)}/_SUCCESS" for t in TABLES]
    dirs = [e for e in events if e[0] == "dir"]
    assert [e[1] for e in dirs] == ["interactions", "models", "songs", "user_recommendations"]
    assert events.index(dirs[0]) > max(i for i, e in enumerate(events) if e[0] == "marker")
    # while folders go, no table reads as complete and pruned.json says so
    assert all(e[2] is False and e[3] == "pruning" for e in dirs)


def _state(wh: Warehouse, run_id: str) -> str:
    return json.loads(storage.read_bytes(wh.doc_uri(run_id, "pruned.json")))["state"]


def test_an_interrupted_prune_leaves_no_complete_table_and_is_finished_next_time(
    local, monkeypatch
):
    delete_dir = storage.delete_dir

    def failing(uri):
        raise StorageError(f"{uri}: connection reset")

    monkeypatch.setattr(storage, "delete_dir", failing)
    decisions = retention.plan(retention.scan(local), POLICY, NOW)
    with pytest.raises(StorageError, match="connection reset"):
        retention.prune(local, decisions, BY, POLICY, log=lambda line: None)
    first = "2026-10-01"  # oldest first
    assert _state(local, first) == "pruning"
    # its files are all there, but no table reads as complete any more
    assert storage.list_dirs(local.run_uri(first)) == ["interactions", "songs"]
    assert not local.has_table(first, "interactions")
    assert all(local.has_table("2026-11-10", t) for t in TABLES)  # the next run untouched
    assert rows(retention.format_runs(retention.scan(local)))[first][2] == "interrupted"
    monkeypatch.setattr(storage, "delete_dir", delete_dir)
    decisions = retention.plan(retention.scan(local), POLICY, NOW)
    assert [d.run.run_id for d in decisions if d.delete] == PRUNED_BY_DEFAULT
    retention.prune(local, decisions, BY, POLICY, log=lambda line: None)
    doc = local.read_json(first, "pruned.json")
    assert doc["state"] == "pruned" and doc["tables"] == ["interactions", "songs"]
    assert "resumes" in doc
    assert storage.list_dirs(local.run_uri(first)) == []


def test_prune_leaves_a_run_that_latest_moved_to_after_the_plan(local):
    decisions = retention.plan(retention.scan(local), POLICY, NOW)
    local.set_latest("2026-11-10")  # a rollback between the plan and the deletes
    logged: list[str] = []
    done = retention.prune(local, decisions, BY, POLICY, log=logged.append)
    assert done == ["2026-10-01", "2026-11-22"]
    assert all(local.has_table("2026-11-10", t) for t in TABLES)
    assert any(line.startswith("skipped 2026-11-10") for line in logged)


# ---------------------------------------------------------------------- the command line
def test_cli_dry_run_prints_the_plan_and_deletes_nothing_then_prune_does_it(tmp_path, capsys):
    wh = build(str(tmp_path / "wh"), dt.datetime.now(dt.UTC))
    before = snapshot(wh.root)
    assert main(["runs", "prune", "--warehouse", wh.root, "--keep", "2", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert snapshot(wh.root) == before
    would = {m.group(1) for line in out if (m := re.match(r"  would delete (\S+)/ \(", line))}
    assert would == {wh.table_uri(r, f) for r in PRUNED_BY_DEFAULT for f in folders(before, r)}
    writes = {line.split()[-1] for line in out if line.startswith("  would write ")}
    assert writes == {wh.doc_uri(r, "pruned.json") for r in PRUNED_BY_DEFAULT}
    verdicts = {
        line.split()[1]: line.split()[0] for line in out if line.startswith(("keep ", "prune "))
    }
    assert verdicts == {r: "prune" if r in PRUNED_BY_DEFAULT else "keep" for r in ORDER}
    assert out[-1].endswith("dry run, nothing deleted")

    assert main(["runs", "prune", "--warehouse", wh.root, "--keep", "2"]) == 0
    out = capsys.readouterr().out
    after = snapshot(wh.root)
    gone = {"/".join(k.split("/")[:3]) for k in set(before) - set(after)}
    assert {f"{wh.root}/{g}" for g in gone} == would
    assert "pruned 2026-11-10: 4 folders deleted, documents kept" in out
    doc = wh.read_json("2026-11-10", "pruned.json")
    assert doc["by"]["command"] == f"recsys runs prune --keep 2 --warehouse {wh.root}"


def test_cli_list(tmp_path, capsys):
    wh = build(str(tmp_path / "wh"), dt.datetime.now(dt.UTC))
    assert main(["runs", "list", "--warehouse", wh.root]) == 0
    table = rows(capsys.readouterr().out.splitlines())
    assert list(table) == ORDER
    assert table["2026-11-20"][0] == "published (latest)"
    assert main(["runs", "list", "--warehouse", str(tmp_path / "empty")]) == 0
    assert capsys.readouterr().out.strip() == f"no runs in {tmp_path / 'empty'}/runs"


def test_cli_prune_takes_the_retention_keys_from_the_config(tmp_path, capsys):
    wh = build(str(tmp_path / "wh"), dt.datetime.now(dt.UTC))
    before = snapshot(wh.root)
    conf = tmp_path / "conf.yaml"
    conf.write_text(
        f"warehouse:\n  dir: {wh.root}\n  retention:\n    keep: 4\n    min_age_days: 0\n"
        "    in_progress_hours: 1\n"
    )
    args = ["runs", "prune", "--conf", str(conf), "--dry-run"]

    def pruned(*extra: str) -> list[str]:
        assert main([*args, *extra]) == 0
        out = capsys.readouterr().out.splitlines()
        return [line.split()[1] for line in out if line.startswith("prune ")]

    assert pruned() == ["2026-11-10", "2026-10-01"]  # keep 4, no age, 1 hour
    assert pruned("--keep", "6") == ["2026-10-01"]  # --keep wins over the config
    assert pruned("--set", "warehouse.retention.min_age_days=25") == ["2026-10-01"]
    assert snapshot(wh.root) == before


def test_cli_refuses_a_bad_keep_and_deletes_nothing(local, capsys):
    before = snapshot(local.root)
    assert main(["runs", "prune", "--warehouse", local.root, "--keep", "0"]) == 2
    assert "--keep: expected at least 1" in capsys.readouterr().err
    assert snapshot(local.root) == before
    with pytest.raises(ConfigError, match="warehouse.retention.keep: 0 is below the minimum 1"):
        config.from_dict({"warehouse": {"retention": {"keep": 0}}})
    defaults = config.from_dict({}).warehouse.retention
    assert (defaults.keep, defaults.min_age_days, defaults.in_progress_hours) == (14, 7, 24)


# ---------------------------------------------------------------------- S3
BUCKET = "recsys-retention"


def test_prune_on_s3(moto_endpoints, s3_env, capsys):  # noqa: F811 - the imported fixtures
    s3_env(moto_endpoints["open"])
    boto3.client("s3", endpoint_url=moto_endpoints["open"], region_name="us-east-1").create_bucket(
        Bucket=BUCKET
    )
    # S3 dates every object at upload: the incomplete runs are made old by looking from later
    now = dt.datetime.now(dt.UTC) + 61 * D
    wh = build(f"s3://{BUCKET}/wh", now, LAYOUT[1:])
    before = snapshot(wh.root)
    assert len(before) > 40
    decisions = retention.plan(retention.scan(wh), POLICY, now)
    lines = retention.format_plan(wh, decisions, POLICY, dry_run=True)
    assert snapshot(wh.root) == before
    would = [line for line in lines if line.startswith("  would delete s3://")]
    assert len(would) == sum(len(folders(before, r)) for r in PRUNED_BY_DEFAULT)
    assert retention.prune(wh, decisions, BY, POLICY, log=lambda line: None) == list(
        reversed(PRUNED_BY_DEFAULT)
    )
    after = snapshot(wh.root)
    assert set(after) == expected_after(before, PRUNED_BY_DEFAULT)
    for run_id in PRUNED_BY_DEFAULT:
        assert storage.list_dirs(wh.run_uri(run_id)) == []
        assert wh.read_json(run_id, "pruned.json")["state"] == "pruned"
        assert documents(after, run_id) == documents(before, run_id)
    assert all(wh.has_table("2026-11-20", t) for t in TABLES)
    assert main(["runs", "list", "--warehouse", wh.root]) == 0
    table = rows(capsys.readouterr().out.splitlines())
    assert {r for r, c in table.items() if c[2] == "yes"} == {*PRUNED_BY_DEFAULT, "2026-11-01"}
