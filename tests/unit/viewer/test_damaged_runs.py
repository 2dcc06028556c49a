"""The viewer on runs whose tables are missing, half-written or corrupt: every page shows an
error that names the table, never an exception (complements the error tests in test_app)."""

from __future__ import annotations

import json
import re
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys import schemas
from tests.viewer_data import LATEST_RUN

PAGES = ("User", "Song", "Run")


def _messages(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


def _parts(warehouse, table: str):
    parts = sorted((warehouse / "runs" / LATEST_RUN / table).glob("part-*.parquet"))
    assert parts, f"no part files in {table}"
    return parts


def _open_all_pages(viewer, root, **query):
    """Each page of the app on ``root``; none may raise."""
    apps = {}
    for page in PAGES:
        app = viewer(root, page=page, **query)
        assert not app.exception, (page, [e.value for e in app.exception])
        apps[page] = app
    return apps


def _truncate(warehouse, table):
    for part in _parts(warehouse, table):
        data = part.read_bytes()
        part.write_bytes(data[: len(data) // 2])  # footer gone: a copy cut short


def _empty_file(warehouse, table):
    for part in _parts(warehouse, table):
        part.write_bytes(b"")


def _drop_column(warehouse, table, column=schemas.SCORE):
    for part in _parts(warehouse, table):
        pq.write_table(pq.read_table(part).drop_columns([column]), part)


def _retype_column(warehouse, table, column=schemas.USER):
    for part in _parts(warehouse, table):
        frame = pq.read_table(part)
        i = frame.schema.get_field_index(column)
        as_text = pa.array([str(v) for v in frame.column(column).to_pylist()], pa.string())
        pq.write_table(frame.set_column(i, column, as_text), part)


def _half_written(warehouse, table):
    """As a killed job leaves it: part files and _temporary, no _SUCCESS."""
    folder = warehouse / "runs" / LATEST_RUN / table
    (folder / "_SUCCESS").unlink()
    (folder / "_temporary" / "0" / "_temporary").mkdir(parents=True)


def _deleted(warehouse, table):
    shutil.rmtree(warehouse / "runs" / LATEST_RUN / table)


@pytest.mark.parametrize(
    "damage, table, page, says",
    [
        (_truncate, schemas.USER_RECOMMENDATIONS, "User", "is unreadable"),
        (_empty_file, schemas.USER_RECOMMENDATIONS, "User", "is unreadable"),
        (_drop_column, schemas.USER_RECOMMENDATIONS, "User", "has no column(s) score"),
        # the type clash surfaces where the ids meet: the users lookup (no schema check yet)
        (_retype_column, schemas.USER_RECOMMENDATIONS, "User", "no kernel matching"),
        (_half_written, schemas.USER_RECOMMENDATIONS, "User", "no complete"),
        (_deleted, schemas.USERS, "User", "users"),
        (_truncate, schemas.SIMILAR_SONGS, "Song", "is unreadable"),
        (_deleted, schemas.SONGS, "Song", "songs"),
        (_half_written, schemas.SONGS, "Song", "songs"),
        (_truncate, schemas.METRICS, "Run", "is unreadable"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_damaged_table_shows_an_error_naming_it(warehouse_copy, viewer, damage, table, page, says):
    damage(warehouse_copy, table)
    query = {"song": "Karma Police"} if page == "Song" else {}
    app = viewer(warehouse_copy, page=page, **query)
    assert not app.exception, [e.value for e in app.exception]
    errors = _messages(app.error)
    named = schemas.USERS if damage is _retype_column else table
    assert says in errors and re.search(rf"\b{named}\b", errors), errors


def test_corrupt_latest_pointer_is_explained(warehouse_copy, viewer):
    (warehouse_copy / "latest").write_text("{not json")
    apps = _open_all_pages(viewer, warehouse_copy)
    assert "latest pointer is not valid JSON" in _messages(apps["User"].error)


def test_latest_pointer_with_a_bad_run_id_is_explained(warehouse_copy, viewer):
    (warehouse_copy / "latest").write_text(json.dumps({"run_id": "../../etc"}))
    apps = _open_all_pages(viewer, warehouse_copy)
    assert "is not valid" in _messages(apps["User"].error)


def test_every_table_of_the_run_deleted(warehouse_copy, viewer):
    run = warehouse_copy / "runs" / LATEST_RUN
    for table in run.iterdir():
        if table.is_dir():
            shutil.rmtree(table)
    apps = _open_all_pages(viewer, warehouse_copy, song="Karma Police")
    for page in ("User", "Song"):
        assert apps[page].error, page


def test_a_pruned_run_says_so_and_keeps_its_reports(warehouse_copy, viewer):
    """`recsys runs prune` deletes a run's tables and leaves pruned.json and the documents."""
    run = warehouse_copy / "runs" / LATEST_RUN
    for table in run.iterdir():
        if table.is_dir():
            shutil.rmtree(table)
    pruned = {"state": "pruned", "finished_at": "2026-12-01T03:00:00+00:00", "tables": []}
    (run / schemas.PRUNED).write_text(json.dumps(pruned))
    apps = _open_all_pages(viewer, warehouse_copy, song="Karma Police")
    for page in ("User", "Song"):
        text = _messages(apps[page].error)
        assert f"Run '{LATEST_RUN}' was pruned (2026-12-01T03:00:00+00:00" in text, page
        assert "its reports stay on the Run page" in text
    assert not apps["Run"].exception  # the manifest and reports still show
