"""The History page, the Run page's night-over-night figures and the optional login, with
streamlit.testing.v1.AppTest over a warehouse of published, refused and stopped runs."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from recsys.storage.history import history
from recsys.storage.warehouse import Warehouse
from streamlit_app import auth
from streamlit_app.views import options_from_args
from tests.unit.viewer.test_s3 import BUCKET, moto_endpoints, s3_env  # noqa: F401 - fixtures
from tests.viewer_data import (
    HISTORY_ORDER,
    LATEST_RUN,
    OLD_RUN,
    REFUSAL,
    REFUSED_RUN,
    STOPPED_RUN,
)
from tests.viewer_fixtures import APP


def _ok(app) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def _table(app, column: str):
    """The one dataframe on the page that has ``column``."""
    found = [d.value for d in app.dataframe if column in d.value.columns]
    assert len(found) == 1, f"{len(found)} dataframes with a {column!r} column"
    return found[0]


def test_history_rows_from_the_runs_documents(history_warehouse):
    rows = {r["run_id"]: r for r in history(Warehouse(str(history_warehouse)))}
    assert list(rows) == HISTORY_ORDER
    assert rows[LATEST_RUN]["state"] == "published (latest)"
    assert rows[OLD_RUN]["state"] == "published"
    assert rows[REFUSED_RUN]["state"] == "refused"
    assert rows[REFUSED_RUN]["why"] == f"beats_popularity: {REFUSAL}"
    stopped = rows[STOPPED_RUN]
    assert (stopped["state"], stopped["why"]) == ("incomplete", "stopped after train-als")
    assert stopped["seconds"] == 120.0 and stopped["metrics"] == {}
    latest = rows[LATEST_RUN]
    assert latest["seconds"] == 32 + 61 + 22
    assert latest["quarantined_share"] == pytest.approx(40 / 1040)
    assert (latest["users"], latest["songs"], latest["triplet_lines"]) == (6, 16, 1040)
    assert latest["metrics"] == {"hybrid": 0.18, "als": 0.14}
    assert (latest["top_k_churn"], latest["first_pick_changed_share"]) == (0.25, 0.5)
    assert latest["compared_with"] == OLD_RUN


def test_history_page_lists_every_run_newest_first(history_warehouse, viewer):
    app = viewer(history_warehouse, page="History")
    _ok(app)
    table = _table(app, "open")
    assert table["run"].tolist() == HISTORY_ORDER
    assert table["open"].tolist() == [f"?page=Run&run={r}" for r in HISTORY_ORDER]
    by_run = table.set_index("run")
    assert by_run.loc[REFUSED_RUN, "state"] == "refused"
    assert REFUSAL in by_run.loc[REFUSED_RUN, "why"]
    assert by_run.loc[LATEST_RUN, "hybrid"] == pytest.approx(0.18)
    assert by_run.loc[REFUSED_RUN, "top-k churn"] == pytest.approx(0.6)
    assert by_run.loc[STOPPED_RUN, "why"] == "stopped after train-als"
    # the trends over the runs: the gate metric by model, seconds per step, input size, churn
    titles = [m.value for m in app.markdown]
    for title in ("**ndcg@10 by model**", "**Seconds per step**", "**Input size**"):
        assert title in titles
    assert "**Night over night**" in titles
    assert len(app.get("vega_lite_chart")) == 4


def test_history_page_over_s3(history_warehouse, moto_endpoints, s3_env, viewer):  # noqa: F811
    from pathlib import Path

    import boto3

    s3_env(moto_endpoints["open"])
    client = boto3.client("s3", endpoint_url=moto_endpoints["open"])
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    root = Path(history_warehouse)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client.upload_file(str(path), BUCKET, f"history/{path.relative_to(root).as_posix()}")
    app = viewer(f"s3://{BUCKET}/history", page="History")
    _ok(app)
    table = _table(app, "open")
    assert table["run"].tolist() == HISTORY_ORDER
    assert table.set_index("run").loc[REFUSED_RUN, "state"] == "refused"


def test_a_run_opens_from_the_history(history_warehouse, viewer):
    app = viewer(history_warehouse, page="History")
    app.selectbox(key="history_run").select(REFUSED_RUN).run()
    app.button(key="open_run").click().run()
    _ok(app)
    assert app.radio(key="page").value == "Run"
    assert app.selectbox(key="run").value == REFUSED_RUN
    assert app.header[0].value == f"Run {REFUSED_RUN}"


def test_run_page_shows_the_night_over_night_figures(history_warehouse, viewer):
    app = viewer(history_warehouse, page="Run")
    _ok(app)
    figures = {m.label: m.value for m in app.metric}
    assert figures["Top-10 churn"] == "25.0%"
    assert figures["First pick changed"] == "50.0%"
    assert figures["Songs entered / left all lists"] == "2 / 1"
    assert figures["Catalogue coverage"] == "81.2%"
    assert f"Against the last published run, {OLD_RUN}" in [s.value for s in app.subheader]
    deltas = _table(app, "delta")
    assert deltas["delta"].tolist() == pytest.approx([0.02])


def test_run_page_of_the_first_run_says_there_was_nothing_to_compare(demo_warehouse, viewer):
    app = viewer(demo_warehouse.root, page="Run")
    _ok(app)
    assert any("No night-over-night comparison" in c.value for c in app.caption)


# ----------------------------------------------------------------------------- login
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "viewer",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
}


def _login_app(root, monkeypatch, user=None, secrets=True, allow=""):
    monkeypatch.setenv("RECSYS_WAREHOUSE", str(root))
    monkeypatch.setenv(auth.REQUIRE_ENV, "1")
    monkeypatch.setenv(auth.ALLOW_ENV, allow)
    app = AppTest.from_file(APP, default_timeout=60)
    if secrets:
        app.secrets["auth"] = AUTH
    if user is not None:
        app.user = user
    return app.run()


def test_login_required_but_not_configured_says_what_to_set(demo_warehouse, monkeypatch):
    app = _login_app(demo_warehouse.root, monkeypatch, secrets=False)
    assert not app.exception
    (error,) = app.error
    assert "requires a login" in error.value and "no [auth] section" in error.value
    assert not app.dataframe  # nobody's history is shown


def test_logged_out_visitors_see_only_the_login(demo_warehouse, monkeypatch):
    app = _login_app(demo_warehouse.root, monkeypatch, user={"is_logged_in": False})
    assert not app.exception and not app.error
    assert app.button(key="login").label == "Log in"
    assert not app.dataframe and not app.selectbox


def test_logged_in_users_see_the_viewer_unless_not_allowed(demo_warehouse, monkeypatch):
    user = {"is_logged_in": True, "email": "ana@example.org", "name": "Ana"}
    app = _login_app(demo_warehouse.root, monkeypatch, user=user, allow="@example.org")
    _ok(app)
    assert app.dataframe and "Signed in as Ana" in [c.value for c in app.sidebar.caption]
    app = _login_app(demo_warehouse.root, monkeypatch, user=user, allow="bo@example.org")
    assert "ana@example.org may not use this viewer" in app.error[0].value
    assert not app.dataframe


def test_login_options_and_rules():
    opts = options_from_args(
        ["--warehouse", "w", "--require-login", "--allow", "A@x.org, @y.org"], {}
    )
    assert opts == {"warehouse": "w", "require_login": True, "allow": ("a@x.org", "@y.org")}
    assert options_from_args([], {auth.REQUIRE_ENV: "true"})["require_login"] is True
    assert options_from_args([], {})["require_login"] is False
    assert auth.allowed("Ana@Y.org", ("@y.org",)) and not auth.allowed(
        "ana@evil-y.org", ("@y.org",)
    )
    assert auth.allowed(None, ()) and not auth.allowed(None, ("@y.org",))
    assert (
        auth.auth_problem({"auth": {**AUTH, "cookie_secret": ""}}) == "[auth] lacks cookie_secret"
    )
    named = {k: v for k, v in AUTH.items() if k in auth.AUTH_KEYS}
    provider = {k: v for k, v in AUTH.items() if k in auth.PROVIDER_KEYS}
    assert auth.auth_problem({"auth": {**named, "google": provider}}) is None
