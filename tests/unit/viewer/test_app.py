"""The viewer's pages with streamlit.testing.v1.AppTest over a published demo warehouse."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recsys import schemas
from recsys.errors import WarehouseError
from recsys.models.blend import rerank
from recsys.storage.warehouse import Warehouse
from streamlit_app.views import warehouse_from_args
from tests.viewer_data import COLD_SONG, LATEST_RUN, OLD_RUN, TOP_N


def _ok(app) -> None:
    """The page drew without an exception or an error message."""
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def _frame(app, column: str) -> pd.DataFrame:
    """The one dataframe on the page that has ``column``."""
    found = [d.value for d in app.dataframe if column in d.value.columns]
    assert len(found) == 1, f"{len(found)} dataframes with a {column!r} column"
    return found[0]


def _messages(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


def _user(demo, run_id: str, user_idx: int) -> dict:
    users = demo.frames[run_id][schemas.USERS]
    return users[users[schemas.USER] == user_idx].iloc[0].to_dict()


def _rows(demo, run_id: str, table: str, user_idx: int) -> pd.DataFrame:
    frame = demo.frames[run_id][table]
    return frame[frame[schemas.USER] == user_idx]


# ----------------------------------------------------------------------------- user page
def test_user_page_shows_the_first_example_users_recommendations(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root)
    _ok(app)
    recs = demo_warehouse.frames[LATEST_RUN][schemas.USER_RECOMMENDATIONS]
    first_user = int(recs[schemas.USER].iloc[0])
    assert app.selectbox(key="run").value == LATEST_RUN
    assert (
        app.selectbox(key="example_user").value
        == _user(demo_warehouse, LATEST_RUN, 0)[schemas.USER_ID]
    )
    shown = _frame(app, schemas.REASON)
    expected = _rows(demo_warehouse, LATEST_RUN, schemas.USER_RECOMMENDATIONS, first_user)
    assert shown[schemas.SONG].tolist() == expected.sort_values(schemas.RANK)[schemas.SONG].tolist()
    assert len(shown) == TOP_N
    # artist and title come from the songs table
    songs = demo_warehouse.frames[LATEST_RUN][schemas.SONGS].set_index(schemas.SONG)
    assert shown[schemas.TITLE].tolist() == songs.loc[shown[schemas.SONG], schemas.TITLE].tolist()
    assert any(shown[schemas.TITLE].iloc[0] in m.value for m in app.markdown)


def test_lookup_by_user_id_shows_that_users_history_and_recommendations(demo_warehouse, viewer):
    user = _user(demo_warehouse, LATEST_RUN, 3)
    app = viewer(demo_warehouse.root)
    app.text_input(key="user_id").set_value(user[schemas.USER_ID]).run()
    _ok(app)
    assert any(user[schemas.USER_ID] in h.value for h in app.subheader)
    played = _rows(demo_warehouse, LATEST_RUN, schemas.INTERACTIONS, 3)
    expected_played = played.sort_values([schemas.PLAYS, schemas.SONG], ascending=[False, True])[
        schemas.SONG
    ].tolist()
    shown_played = _frame(app, schemas.PLAYS)
    assert shown_played[schemas.SONG].tolist() == expected_played
    assert shown_played[schemas.PLAYS].is_monotonic_decreasing
    recs = _rows(demo_warehouse, LATEST_RUN, schemas.USER_RECOMMENDATIONS, 3)
    assert _frame(app, schemas.REASON)[schemas.SONG].tolist() == recs[schemas.SONG].tolist()
    # the same lookup through the URL (?user=...)
    app = viewer(demo_warehouse.root, user=user[schemas.USER_ID])
    _ok(app)
    assert _frame(app, schemas.REASON)[schemas.SONG].tolist() == recs[schemas.SONG].tolist()


def test_unknown_user_gets_a_message(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root)
    app.text_input(key="user_id").set_value("no-such-user").run()
    assert not app.exception
    assert "Unknown user 'no-such-user'" in _messages(app.error)
    assert not app.dataframe


def test_alpha_slider_reorders_as_rerank_says(demo_warehouse, viewer):
    candidates = demo_warehouse.frames[LATEST_RUN][schemas.USER_CANDIDATES]
    songs = demo_warehouse.frames[LATEST_RUN][schemas.SONGS]

    def expected(user_idx: int, alpha: float, max_per_artist: int = 0) -> list[int]:
        rows = candidates[candidates[schemas.USER] == user_idx].drop(columns=schemas.ARTIST)
        rows = rows.merge(songs[[schemas.SONG, schemas.ARTIST]], on=schemas.SONG)
        return rerank(rows, alpha, 0.0, max_per_artist, TOP_N)[schemas.SONG].tolist()

    users = sorted(candidates[schemas.USER].unique())
    moved = [u for u in users if expected(u, 0.0) != expected(u, 1.0)]
    assert moved, "the demo data should have a user whose list depends on alpha"
    user_idx = int(moved[0])
    app = viewer(demo_warehouse.root, user=_user(demo_warehouse, LATEST_RUN, user_idx)["user_id"])
    _ok(app)
    stored = _frame(app, schemas.REASON)[schemas.SONG].tolist()
    app.toggle(key="reblend").set_value(True).run()
    _ok(app)
    # at the user's stored alpha the live blend reproduces the stored list
    assert _frame(app, schemas.REASON)[schemas.SONG].tolist() == stored
    orders = {}
    for alpha in (0.0, 1.0):
        app.slider(key="alpha").set_value(alpha).run()
        _ok(app)
        orders[alpha] = _frame(app, schemas.REASON)[schemas.SONG].tolist()
        assert orders[alpha] == expected(user_idx, alpha)
    assert orders[0.0] != orders[1.0]
    # the artist cap: at most one song per artist, still as rerank says
    app.number_input(key="max_per_artist").set_value(1).run()
    shown = _frame(app, schemas.REASON)
    assert shown[schemas.SONG].tolist() == expected(user_idx, 1.0, max_per_artist=1)
    artists = shown[schemas.ARTIST][shown[schemas.ARTIST] != "unknown artist"]
    assert artists.is_unique


def test_older_run_can_be_picked(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root)
    options = app.selectbox(key="run").options
    assert options == [f"{LATEST_RUN} (latest)", OLD_RUN]
    app.selectbox(key="run").set_value(OLD_RUN).run()
    _ok(app)
    old = demo_warehouse.frames[OLD_RUN][schemas.USER_RECOMMENDATIONS]
    user_idx = int(old[schemas.USER].iloc[0])
    expected = old[old[schemas.USER] == user_idx][schemas.SONG].tolist()
    assert _frame(app, schemas.REASON)[schemas.SONG].tolist() == expected
    assert app.toggle(key="reblend").disabled  # that run kept no candidates to re-blend
    app.sidebar.radio(key="page").set_value("Run").run()
    assert "no metrics table" in _messages(app.info)


# ----------------------------------------------------------------------------- song page
def test_song_search_and_similar_songs(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root, page="Song")
    _ok(app)
    assert "Type part of an artist" in _messages(app.info)
    app.text_input(key="song_query").set_value("RADIOhead").run()
    _ok(app)
    songs = demo_warehouse.frames[LATEST_RUN][schemas.SONGS]
    radiohead = songs[songs[schemas.ARTIST] == "Radiohead"]
    assert sorted(app.selectbox(key="song").options) == sorted(
        f"{t} — Radiohead" for t in radiohead[schemas.TITLE]
    )
    song_idx = int(app.selectbox(key="song").value)
    similar = demo_warehouse.frames[LATEST_RUN][schemas.SIMILAR_SONGS]
    expected = similar[similar[schemas.SONG] == song_idx].sort_values(schemas.RANK)
    shown = _frame(app, schemas.SIMILAR)
    assert shown[schemas.SIMILAR].tolist() == expected[schemas.SIMILAR].tolist()
    assert shown[schemas.SOURCE].tolist() == expected[schemas.SOURCE].tolist()
    labels = {"both": "ALS + content", "cf+coplay": "ALS + co-plays", "cf": "ALS"}
    assert shown["match"].tolist() == [labels.get(s, s) for s in expected[schemas.SOURCE]]
    co_played = expected[schemas.SOURCE].str.contains("coplay").any()
    title = songs.loc[songs[schemas.SONG] == song_idx, schemas.TITLE].iloc[0]
    assert (f"Listeners of {title} also played" in _messages(app.caption)) == co_played
    assert not app.warning  # a played song is not cold
    # a title search, lower case
    app.text_input(key="song_query").set_value("computer love").run()
    assert app.selectbox(key="song").options == ["Computer Love — Kraftwerk"]


def test_cold_song_is_flagged(demo_warehouse, viewer):
    cold_title = demo_warehouse.frames[LATEST_RUN][schemas.SONGS][schemas.TITLE][COLD_SONG]
    app = viewer(demo_warehouse.root, page="Song", song=cold_title.upper())
    _ok(app)
    assert "Cold song" in _messages(app.warning)
    assert set(_frame(app, schemas.SIMILAR)[schemas.SOURCE]) == {"content"}


def test_unknown_song_gets_a_message(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root, page="Song", song="no such tune")
    assert not app.exception
    assert "Unknown song" in _messages(app.error)


# ----------------------------------------------------------------------------- run page
def test_run_page_shows_manifest_quality_and_metrics(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root, page="Run")
    _ok(app)
    assert [t.label for t in app.tabs] == ["Evaluation", "Quality report", "Manifest"]
    key_values = [d.value for d in app.dataframe if list(d.value.columns) == ["key", "value"]]
    flat = {k: v for frame in key_values for k, v in zip(frame["key"], frame["value"], strict=True)}
    assert flat["run_id"] == LATEST_RUN
    assert flat["bad_play_count"] == "12"  # quarantined by reason, a dict of counts
    metrics = demo_warehouse.frames[LATEST_RUN][schemas.METRICS]
    table = next(d.value for d in app.dataframe if "ndcg@10" in getattr(d.value, "columns", []))
    main = metrics[metrics[schemas.ALPHA].isna()]
    assert sorted(table.index) == sorted(main["model"].unique())
    hybrid = main[(main["model"] == "hybrid") & (main["metric"] == "ndcg") & (main["k"] == 10)]
    assert table.loc["hybrid", "ndcg@10"] == pytest.approx(hybrid["value"].iloc[0])
    assert app.selectbox(key="metric").options == sorted(main["metric"].unique())
    sweep = next(d.value for d in app.dataframe if d.value.index.name == schemas.ALPHA)
    expected_alphas = sorted(metrics[schemas.ALPHA].dropna())
    assert sweep.index.tolist() == pytest.approx(expected_alphas)


def test_run_page_without_documents_or_metrics(warehouse_copy, viewer):
    run = warehouse_copy / "runs" / LATEST_RUN
    (run / schemas.MANIFEST).unlink()
    (run / schemas.METRICS / "_SUCCESS").unlink()
    app = viewer(warehouse_copy, page="Run")
    assert not app.exception
    info = _messages(app.info)
    assert "no manifest.json" in info
    assert "no metrics table" in info


def test_run_page_names_the_runs_degradations(warehouse_copy, viewer):
    run = warehouse_copy / "runs" / LATEST_RUN
    manifest = json.loads((run / schemas.MANIFEST).read_text())
    sentences = ["lyrics: no musiXmatch file", "content: no song has lyrics or metadata"]
    manifest["degradations"] = sentences
    (run / schemas.MANIFEST).write_text(json.dumps(manifest))
    app = viewer(warehouse_copy, page="Run")
    _ok(app)
    (warning,) = app.warning
    assert all(f"- {s}" in warning.value for s in sentences)


def test_a_run_that_stopped_before_publish_shows_the_quality_reports(warehouse_copy, viewer):
    run = warehouse_copy / "runs" / LATEST_RUN
    (run / schemas.MANIFEST).unlink()
    report = json.loads((run / schemas.QUALITY_REPORT).read_text())
    (run / schemas.QUALITY_REPORT).write_text(json.dumps({**report, "degradations": ["tracks: x"]}))
    app = viewer(warehouse_copy, page="Run")
    assert "- tracks: x" in app.warning[0].value


def test_run_page_without_degradations_warns_of_nothing(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root, page="Run")
    assert not app.warning


# ----------------------------------------------------------------------------- errors
def test_no_warehouse_configured(viewer):
    app = viewer(None)
    assert not app.exception
    assert "No warehouse given" in _messages(app.error)


def test_missing_warehouse_folder(tmp_path, viewer):
    app = viewer(tmp_path / "nowhere")
    assert not app.exception
    assert "does not exist" in _messages(app.error)


def test_empty_warehouse(tmp_path, viewer):
    app = viewer(tmp_path)
    assert not app.exception
    assert not app.error
    assert "has no runs yet" in _messages(app.info)


def test_missing_run(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root, run="2020-01-01")
    assert not app.exception
    assert "Run '2020-01-01' is not in the warehouse" in _messages(app.error)


def test_latest_pointing_at_a_deleted_run(warehouse_copy, viewer):
    (warehouse_copy / "latest").write_text(json.dumps({"run_id": "2026-01-01"}))
    app = viewer(warehouse_copy)
    assert not app.exception
    assert "names run '2026-01-01', which is missing" in _messages(app.error)
    assert app.selectbox(key="run").value == LATEST_RUN  # the newest remaining run is shown


def test_incomplete_table(warehouse_copy, viewer):
    (warehouse_copy / "runs" / LATEST_RUN / schemas.USER_RECOMMENDATIONS / "_SUCCESS").unlink()
    app = viewer(warehouse_copy)
    assert not app.exception
    assert "has no complete user_recommendations table" in _messages(app.error)


def test_corrupt_table(warehouse_copy, viewer):
    folder = warehouse_copy / "runs" / LATEST_RUN / schemas.USERS
    for part in folder.glob("part-*.parquet"):
        part.write_bytes(b"not parquet at all")
    app = viewer(warehouse_copy)
    assert not app.exception
    assert "is unreadable" in _messages(app.error)


def test_corrupt_document(warehouse_copy, viewer):
    (warehouse_copy / "runs" / LATEST_RUN / schemas.QUALITY_REPORT).write_text("{oops")
    app = viewer(warehouse_copy, page="Run")
    assert not app.exception
    assert "not valid JSON" in _messages(app.error)


# ----------------------------------------------------------------------------- plumbing
def test_warehouse_comes_from_the_argument_or_the_environment():
    env = {"RECSYS_WAREHOUSE": "s3://bucket/wh"}
    assert warehouse_from_args(["--warehouse", "/data/wh"], env) == "/data/wh"
    assert warehouse_from_args([], env) == "s3://bucket/wh"
    assert warehouse_from_args(["--ware", "x"], {}) is None  # no abbreviations
    assert warehouse_from_args([], {}) is None


def test_read_table_arrow_prunes_filters_and_limits(demo_warehouse):
    warehouse = Warehouse(demo_warehouse.root)
    users = demo_warehouse.frames[LATEST_RUN][schemas.USERS]
    wanted = users[schemas.USER_ID].iloc[2]
    found = warehouse.read_table_arrow(
        LATEST_RUN, schemas.USERS, columns=[schemas.USER], filters=[(schemas.USER_ID, "==", wanted)]
    )
    assert list(found.columns) == [schemas.USER]
    assert found[schemas.USER].tolist() == [users[schemas.USER].iloc[2]]
    assert len(warehouse.read_table_arrow(LATEST_RUN, schemas.INTERACTIONS, limit=3)) == 3
    with pytest.raises(WarehouseError, match="no column"):
        warehouse.read_table_arrow(LATEST_RUN, schemas.USERS, columns=["nope"])
    with pytest.raises(WarehouseError, match="missing"):
        warehouse.read_table_arrow(LATEST_RUN, "no_such_table")


def test_viewer_command_finds_the_app_from_any_directory(tmp_path, monkeypatch):
    from recsys.cli import viewer_app, viewer_command

    monkeypatch.chdir(tmp_path)
    cmd = viewer_command("wh", port=8600)
    assert viewer_app().is_file()
    assert cmd[cmd.index("run") + 1] == str(viewer_app())
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[-2:] == ["--warehouse", str(tmp_path / "wh")]
    assert viewer_command("s3://bucket/wh")[-1] == "s3://bucket/wh"
