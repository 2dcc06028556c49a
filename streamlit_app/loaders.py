"""Everything the viewer reads, cached across reruns; no Streamlit layout here.

Each loader takes the warehouse root (a local folder or ``s3://`` prefix) and a run id as
plain strings (cheap cache keys) and reads through :class:`recsys.warehouse.Warehouse`:
only the columns it shows, with its filter pushed into the Parquet scan, so a lookup on the
full-size tables reads the matching row groups and keeps the matching rows only. Runs are
immutable, so table reads are cached without expiry; the run list and ``latest`` pointer
expire quickly. Errors are not cached: they raise :class:`WarehouseError` or
:class:`StorageError` for the page to explain.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.fs as pafs
import streamlit as st

from recsys import names
from recsys.errors import WarehouseError
from recsys.storage import files as storage
from recsys.storage.warehouse import Warehouse

EXAMPLE_USERS = 20
SEARCH_LIMIT = 50
TOP_PLAYED = 20
DEGRADATIONS = "degradations"  # the documents' key, recsys.steps.degradations.KEY
SONG_COLUMNS = [names.SONG, names.ARTIST, names.TITLE]
RECOMMENDATION_COLUMNS = [
    names.USER,
    names.RANK,
    names.SONG,
    names.SCORE,
    names.CF_SCORE,
    names.CONTENT_SCORE,
    names.POPULARITY,
    names.ALPHA,
    names.REASON,
]


def _warehouse(root: str) -> Warehouse:
    return Warehouse(root)


def is_s3(root: str | None) -> bool:
    """Whether the warehouse lives on S3 (the viewer's messages differ)."""
    return storage.is_s3(root or "")


def storage_endpoint() -> str:
    """The S3 endpoint reads go to: a custom one from the environment, or AWS's."""
    return storage.s3_endpoint() or "AWS S3"


def check_location(root: str) -> str | None:
    """Why ``root`` cannot hold a warehouse (missing bucket or folder), or None."""
    if storage.is_s3(root):
        fs, path = storage.filesystem(root)
        bucket = path.split("/", 1)[0]
        try:
            info = fs.get_file_info(bucket)
        except OSError as exc:
            raise storage.StorageError(f"s3://{bucket}: {exc}") from exc
        if info.type == pafs.FileType.NotFound:
            return f"The S3 bucket {bucket!r} does not exist (or is not visible to you)."
        return None
    fs, path = storage.filesystem(root)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return f"The warehouse folder {path} does not exist."
    return None


@st.cache_data(ttl=30, show_spinner=False)
def runs(root: str) -> tuple[list[str], str | None]:
    """The runs in the warehouse (newest first) and the published ``latest`` one."""
    warehouse = _warehouse(root)
    return sorted(warehouse.list_runs(), reverse=True), warehouse.latest_run_id()


@st.cache_data(show_spinner=False)
def document(root: str, run_id: str, name: str) -> Any:
    """A JSON document of the run (manifest, quality report, evaluation)."""
    return _warehouse(root).read_json(run_id, name)


def degradations(root: str, run_id: str) -> list[str]:
    """What the run's inputs did not allow, one sentence each: the manifest's list, or the
    quality report's for a run that has not reached publish (empty for either missing)."""
    for name in (names.MANIFEST, names.QUALITY_REPORT):
        if has_document(root, run_id, name):
            doc = document(root, run_id, name)
            found = doc.get(DEGRADATIONS) if isinstance(doc, dict) else None
            if isinstance(found, list):
                return [str(sentence) for sentence in found]
    return []


@st.cache_data(show_spinner=False)
def has_document(root: str, run_id: str, name: str) -> bool:
    warehouse = _warehouse(root)
    return storage.exists(warehouse.doc_uri(run_id, name))


@st.cache_data(show_spinner=False)
def has_table(root: str, run_id: str, table: str) -> bool:
    return _warehouse(root).has_table(run_id, table)


@st.cache_data(show_spinner=False)
def example_users(root: str, run_id: str, n: int = EXAMPLE_USERS) -> pd.DataFrame:
    """A few users to pick from: the first ``n`` recommended ones (a bounded read)."""
    warehouse = _warehouse(root)
    recommended = warehouse.read_table_arrow(
        run_id, names.USER_RECOMMENDATIONS, columns=[names.USER], limit=n * 50
    )[names.USER].drop_duplicates()
    ids = recommended.head(n).tolist()
    if not ids:
        return pd.DataFrame(columns=[names.USER, names.USER_ID, "n_songs"])
    users = warehouse.read_table_arrow(
        run_id,
        names.USERS,
        columns=[names.USER, names.USER_ID, "n_songs"],
        filters=pc.field(names.USER).isin(ids),
    )
    return users.sort_values(names.USER).reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=1000)
def find_user(root: str, run_id: str, user_id: str) -> dict | None:
    """The users row of ``user_id`` (a filter on user_id pushed into the scan), or None."""
    found = _warehouse(root).read_table_arrow(
        run_id, names.USERS, filters=pc.field(names.USER_ID) == user_id, limit=1
    )
    return None if found.empty else found.iloc[0].to_dict()


def _with_songs(root: str, run_id: str, frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """``frame`` with artist and title of the songs in column ``key`` (a filtered read)."""
    if frame.empty:
        return frame.assign(**{names.ARTIST: pd.Series(dtype=str), names.TITLE: ""})
    ids = sorted({int(i) for i in frame[key]})
    songs = (
        _warehouse(root)
        .read_table_arrow(
            run_id, names.SONGS, columns=SONG_COLUMNS, filters=pc.field(names.SONG).isin(ids)
        )
        .rename(columns={names.SONG: key})
    )
    frame = frame.drop(columns=[names.ARTIST, names.TITLE], errors="ignore")
    return frame.merge(songs, on=key, how="left")


@st.cache_data(show_spinner=False, max_entries=1000)
def most_played(root: str, run_id: str, user_idx: int, n: int = TOP_PLAYED) -> pd.DataFrame:
    """The user's ``n`` most played songs with artist and title."""
    plays = _warehouse(root).read_table_arrow(
        run_id,
        names.INTERACTIONS,
        columns=[names.SONG, names.PLAYS],
        filters=pc.field(names.USER) == user_idx,
    )
    plays = plays.sort_values([names.PLAYS, names.SONG], ascending=[False, True]).head(n)
    return _with_songs(root, run_id, plays, names.SONG).reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=1000)
def recommendations(root: str, run_id: str, table: str, user_idx: int) -> pd.DataFrame:
    """The user's rows of ``user_recommendations`` or ``user_candidates`` with titles."""
    rows = _warehouse(root).read_table_arrow(
        run_id,
        table,
        columns=RECOMMENDATION_COLUMNS,
        filters=pc.field(names.USER) == user_idx,
        optional=[names.ITEM_SCORE],  # runs before the item-based model have none
    )
    rows = rows.sort_values(names.RANK)
    return _with_songs(root, run_id, rows, names.SONG).reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=1000)
def search_songs(root: str, run_id: str, text: str, limit: int = SEARCH_LIMIT) -> pd.DataFrame:
    """Songs whose artist or title contains ``text`` (any case), at most ``limit``.

    The substring test runs inside the scan on the artist and title columns only.
    """
    match = pc.match_substring(pc.field(names.ARTIST), text, ignore_case=True) | (
        pc.match_substring(pc.field(names.TITLE), text, ignore_case=True)
    )
    found = _warehouse(root).read_table_arrow(
        run_id,
        names.SONGS,
        columns=[*SONG_COLUMNS, "n_listeners"],
        filters=match,
        limit=limit,
    )
    return found.sort_values([names.ARTIST, names.TITLE, names.SONG]).reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=1000)
def song(root: str, run_id: str, song_idx: int) -> dict | None:
    found = _warehouse(root).read_table_arrow(
        run_id, names.SONGS, filters=pc.field(names.SONG) == song_idx, limit=1
    )
    return None if found.empty else found.iloc[0].to_dict()


@st.cache_data(show_spinner=False, max_entries=1000)
def similar_songs(root: str, run_id: str, song_idx: int) -> pd.DataFrame:
    """The song's similar songs (rank order) with their artist and title."""
    rows = _warehouse(root).read_table_arrow(
        run_id, names.SIMILAR_SONGS, filters=pc.field(names.SONG) == song_idx
    )
    rows = rows.drop(columns=names.SONG).sort_values(names.RANK)
    return _with_songs(root, run_id, rows, names.SIMILAR).reset_index(drop=True)


HISTORY_LIMIT = 200  # runs on the History page (their documents are read, not their tables)


@st.cache_data(ttl=30, show_spinner=False)
def history(root: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """The run history (:func:`recsys.storage.history.history`), newest first."""
    from recsys.storage.history import history as run_history

    return run_history(_warehouse(root), limit)


@st.cache_data(show_spinner=False)
def metrics(root: str, run_id: str) -> pd.DataFrame:
    """The run's metrics table (small: models x metrics x K, plus the alpha sweep)."""
    return _warehouse(root).read_table_arrow(run_id, names.METRICS)


__all__ = [
    "WarehouseError",
    "check_location",
    "document",
    "example_users",
    "find_user",
    "has_document",
    "has_table",
    "history",
    "metrics",
    "most_played",
    "recommendations",
    "runs",
    "search_songs",
    "similar_songs",
    "song",
]
