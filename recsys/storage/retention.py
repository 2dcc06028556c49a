"""Run history and retention: what each run of the warehouse is, and pruning the old ones.

A run is **published** (``latest`` names it, or its manifest says ``published: true``),
**refused** (a manifest with ``published: false``; the failed gates are named) or
**incomplete** (no manifest: it never reached publish, or is still running).

Pruning keeps the newest ``keep`` runs, the run ``latest`` names, every run younger than
``min_age_days`` (its manifest's ``created_at``, else its newest file) and every run written to
within ``in_progress_hours`` (a run in progress); an unreadable manifest keeps its run too.
Every other run loses its folders (the tables and ``models/``) and keeps its documents (the
files beside them: manifest.json, evaluation.json, ...), so the history stays whole. The
order never shows a reader half a table: ``pruned.json`` is written first saying
``"pruning"``, then every table's ``_SUCCESS`` marker goes (its tables read as incomplete),
then the folders, then ``pruned.json`` says ``"pruned"``. A prune that stops half way leaves
``"pruning"`` and the next one finishes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from recsys import names
from recsys.errors import StorageError, WarehouseError
from recsys.storage import files as storage
from recsys.storage.warehouse import SUCCESS_MARKER, Warehouse

MANIFEST = "manifest.json"
PRUNED = names.PRUNED
MODELS = "models"
PRUNING, DONE = "pruning", "pruned"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Policy:
    keep: int
    min_age_days: float
    in_progress_hours: float


@dataclass(frozen=True)
class Folder:
    """A sub-folder of a run: a table (``complete`` once it has ``_SUCCESS``) or ``models``."""

    name: str
    complete: bool
    files: int
    bytes: int


@dataclass(frozen=True)
class Run:
    run_id: str
    state: str  # published | refused | incomplete | unreadable
    is_latest: bool
    failed_gates: tuple[str, ...]
    created: dt.datetime | None  # the manifest's created_at
    modified: dt.datetime | None  # its newest file (pruned.json aside)
    folders: tuple[Folder, ...]
    documents: tuple[str, ...]
    pruned: str | None  # None, "pruning" (interrupted) or "pruned"

    @property
    def when(self) -> dt.datetime | None:
        return self.created or self.modified

    @property
    def kept_documents(self) -> tuple[str, ...]:
        """The documents a prune keeps (``pruned.json`` itself is rewritten)."""
        return tuple(d for d in self.documents if d != PRUNED)

    @property
    def tables(self) -> int:
        return sum(f.complete for f in self.folders if f.name != MODELS)

    def label(self) -> str:
        if self.state == "published" and self.is_latest:
            return "published (latest)"
        if self.state == "refused" and self.failed_gates:
            return "refused: " + ", ".join(self.failed_gates)
        return self.state


@dataclass(frozen=True)
class Decision:
    run: Run
    keep_reasons: tuple[str, ...]
    delete: tuple[Folder, ...] = field(default=())


# ---------------------------------------------------------------------- reading the runs
def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _listing(wh: Warehouse, run_id: str) -> list[pafs.FileInfo]:
    uri = wh.run_uri(run_id)
    fs, path = storage.filesystem(uri)
    try:
        return fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=True))
    except OSError as exc:
        raise StorageError(f"{uri}: {exc}") from exc


def _contents(
    base: str, infos: list[pafs.FileInfo]
) -> tuple[tuple[Folder, ...], tuple[str, ...], dt.datetime | None]:
    """The run's folders, its documents and its newest file's time, from one listing."""
    stats: dict[str, list] = {}  # folder -> [complete, files, bytes]
    documents, newest = [], None
    for info in infos:
        rel = info.path[len(base) :].strip("/")
        head, _, rest = rel.partition("/")
        if info.type == pafs.FileType.Directory:
            stats.setdefault(head, [False, 0, 0])
            continue
        if info.type != pafs.FileType.File:
            continue
        if rest:
            entry = stats.setdefault(head, [False, 0, 0])
            entry[0] = entry[0] or rest == SUCCESS_MARKER
            entry[1] += 1
            entry[2] += info.size or 0
        else:
            documents.append(head)
        if head != PRUNED and info.mtime is not None:
            newest = info.mtime if newest is None else max(newest, info.mtime)
    folders = tuple(Folder(name, *stats[name]) for name in sorted(stats))
    return folders, tuple(sorted(documents)), newest


def _doc(wh: Warehouse, run_id: str, name: str, documents: tuple[str, ...]) -> object:
    """The JSON document, None when absent, or the WarehouseError when unreadable."""
    if name not in documents:
        return None
    try:
        return wh.read_json(run_id, name)
    except WarehouseError as exc:
        return exc


def read_run(wh: Warehouse, run_id: str, latest: str | None) -> Run:
    infos = _listing(wh, run_id)
    _, base = storage.filesystem(wh.run_uri(run_id))
    folders, documents, modified = _contents(base, infos)
    manifest = _doc(wh, run_id, MANIFEST, documents)
    pruned = _doc(wh, run_id, PRUNED, documents)
    failed: tuple[str, ...] = ()
    created = None
    if manifest is None:
        state = "published" if run_id == latest else "incomplete"
    elif not isinstance(manifest, dict):
        state = "unreadable"
    else:
        created = _parse_time(manifest.get("created_at"))
        published = manifest.get("published") is True or run_id == latest
        state = "published" if published else "refused"
        gates = manifest.get("gates") if isinstance(manifest.get("gates"), list) else []
        failed = tuple(
            str(g.get("name")) for g in gates if isinstance(g, dict) and not g.get("passed")
        )
    pruned_state = None
    if pruned is not None:
        pruned_state = pruned.get("state") if isinstance(pruned, dict) else PRUNING
        pruned_state = DONE if pruned_state == DONE else PRUNING
    return Run(
        run_id, state, run_id == latest, failed, created, modified, folders, documents, pruned_state
    )


def scan(wh: Warehouse) -> list[Run]:
    """Every run of the warehouse, newest first (by created time, else newest file; then id)."""
    latest = wh.latest_run_id()
    runs = [read_run(wh, run_id, latest) for run_id in wh.list_runs()]
    return sorted(runs, key=lambda r: (r.when or EPOCH, r.run_id), reverse=True)


# ---------------------------------------------------------------------- deciding
def _age(run: Run, now: dt.datetime) -> dt.timedelta | None:
    return None if run.when is None else now - run.when


def plan(runs: list[Run], policy: Policy, now: dt.datetime) -> list[Decision]:
    """What to keep (and why) and what to delete, for ``runs`` newest first."""
    out = []
    for i, run in enumerate(runs):
        reasons = []
        if i < policy.keep:
            reasons.append(f"newest {policy.keep}")
        if run.is_latest:
            reasons.append("latest")
        age = _age(run, now)
        if age is not None and age < dt.timedelta(days=policy.min_age_days):
            reasons.append(f"younger than {policy.min_age_days:g} days")
        written = None if run.modified is None else now - run.modified
        if written is not None and written < dt.timedelta(hours=policy.in_progress_hours):
            hours = max(written.total_seconds(), 0) / 3600
            what = "in progress" if run.state == "incomplete" else "written to"
            reasons.append(f"{what} ({hours:.1f}h ago)")
        if run.state == "unreadable":
            reasons.append("manifest.json unreadable")
        if not reasons and not run.folders:
            reasons.append("nothing left to delete")
        out.append(Decision(run, tuple(reasons), () if reasons else run.folders))
    return out


# ---------------------------------------------------------------------- reporting
def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _time(when: dt.datetime | None) -> str:
    return "-" if when is None else when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def format_runs(runs: list[Run]) -> list[str]:
    """``recsys runs list``: one line per run, newest first."""
    rows = [("RUN", "STATE", "TABLES", "PRUNED", "WHEN (UTC)")]
    for run in runs:
        partial = len([f for f in run.folders if not f.complete and f.name != MODELS])
        tables = f"{run.tables}" + (f" (+{partial} incomplete)" if partial else "")
        pruned = {None: "no", DONE: "yes", PRUNING: "interrupted"}[run.pruned]
        rows.append((run.run_id, run.label(), tables, pruned, _time(run.when)))
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]


def format_plan(
    wh: Warehouse, decisions: list[Decision], policy: Policy, dry_run: bool
) -> list[str]:
    """The plan: each run kept (with why) or pruned, with every folder it loses."""
    lines = [
        f"warehouse {wh.root}: {len(decisions)} runs; keeping the newest {policy.keep}, "
        f"latest, runs younger than {policy.min_age_days:g} days and runs written to in the "
        f"last {policy.in_progress_hours:g} hours"
    ]
    verb = "would delete" if dry_run else "delete"
    files = size = 0
    for d in decisions:
        if d.keep_reasons:
            lines.append(f"keep   {d.run.run_id}  {d.run.label()}: {', '.join(d.keep_reasons)}")
            continue
        lines.append(
            f"prune  {d.run.run_id}  {d.run.label()}: {len(d.delete)} folder(s) go; kept: "
            f"{', '.join(d.run.kept_documents) or 'no documents'}"
        )
        lines.append(
            f"  {'would write' if dry_run else 'write'} {wh.doc_uri(d.run.run_id, PRUNED)}"
        )
        for f in d.delete:
            uri = wh.table_uri(d.run.run_id, f.name)
            lines.append(f"  {verb} {uri}/ ({f.files} files, {_size(f.bytes)})")
            files, size = files + f.files, size + f.bytes
    pruned = sum(1 for d in decisions if d.delete)
    summary = f"{pruned} runs to prune: {files} files, {_size(size)}"
    lines.append(summary + ("; dry run, nothing deleted" if dry_run else ""))
    return lines


# ---------------------------------------------------------------------- deleting
def _delete_file(uri: str) -> None:
    fs, path = storage.filesystem(uri)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
            return
        raise StorageError(f"{uri}: {exc}") from exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def prune_run(wh: Warehouse, decision: Decision, by: dict, policy: Policy) -> dict:
    """Delete the run's folders in the safe order; ``pruned.json`` says how far it got."""
    run_id = decision.run.run_id
    previous = _doc(wh, run_id, PRUNED, decision.run.documents)
    earlier = previous.get("tables", []) if isinstance(previous, dict) else []
    doc = {
        "state": PRUNING,
        "started_at": _now().isoformat(timespec="seconds"),
        "by": by,
        "policy": {
            "keep": policy.keep,
            "min_age_days": policy.min_age_days,
            "in_progress_hours": policy.in_progress_hours,
            "latest": wh.latest_run_id(),
        },
        "run_state": decision.run.label(),
        "tables": sorted({*earlier, *(f.name for f in decision.delete)}),
        "files": sum(f.files for f in decision.delete),
        "bytes": sum(f.bytes for f in decision.delete),
        "documents_kept": list(decision.run.kept_documents),
    }
    if isinstance(previous, dict) and previous.get("state") == PRUNING:
        doc["resumes"] = previous.get("started_at")
    wh.write_json(run_id, PRUNED, doc)
    for f in decision.delete:  # every table reads as incomplete before any file goes
        if f.complete:
            _delete_file(storage.join(wh.table_uri(run_id, f.name), SUCCESS_MARKER))
    for f in decision.delete:
        storage.delete_dir(wh.table_uri(run_id, f.name))
    doc["state"] = DONE
    doc["finished_at"] = _now().isoformat(timespec="seconds")
    wh.write_json(run_id, PRUNED, doc)
    return doc


def prune(
    wh: Warehouse,
    decisions: list[Decision],
    by: dict,
    policy: Policy,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Carry out ``decisions`` (oldest run first); the ids of the runs pruned.

    Each run is read again just before: one that ``latest`` has come to name, or that was
    written to since the plan was made, is left alone.
    """
    done = []
    for d in reversed(decisions):
        if not d.delete:
            continue
        fresh = read_run(wh, d.run.run_id, wh.latest_run_id())
        if not fresh.folders:  # pruned meanwhile
            continue
        if fresh.is_latest or (fresh.modified or EPOCH) > (d.run.modified or EPOCH):
            log(f"skipped {d.run.run_id}: it changed since the plan (latest, or written to)")
            continue
        prune_run(wh, Decision(fresh, (), fresh.folders), by, policy)
        log(f"pruned {d.run.run_id}: {len(d.delete)} folders deleted, documents kept")
        done.append(d.run.run_id)
    return done
