"""The viewer in a real browser: `recsys viewer` on 127.0.0.1, headless Debian Chromium."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from recsys import schemas
from streamlit_app.screenshot import (
    CHROMIUM,
    browser_page,
    open_history_page,
    open_user_page,
    serve,
)
from tests.viewer_data import HISTORY_ORDER, LATEST_RUN, OLD_RUN

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install -r requirements.txt)")
    return CHROMIUM


def test_user_page_renders_recommended_titles(chromium, demo_warehouse, tmp_path):
    recs = demo_warehouse.frames[LATEST_RUN][schemas.USER_RECOMMENDATIONS]
    songs = demo_warehouse.frames[LATEST_RUN][schemas.SONGS].set_index(schemas.SONG)
    users = demo_warehouse.frames[LATEST_RUN][schemas.USERS].set_index(schemas.USER)
    user_idx = int(recs[schemas.USER].iloc[-1])  # not the default example user
    top = recs[(recs[schemas.USER] == user_idx) & (recs[schemas.RANK] == 1)]
    title = songs.loc[int(top[schemas.SONG].iloc[0]), schemas.TITLE]
    # started from another directory: recsys viewer must find the app by itself
    with serve(demo_warehouse.root, cwd=str(tmp_path)) as url, browser_page() as page:
        open_user_page(page, url, users.loc[user_idx, schemas.USER_ID])
        text = page.inner_text("body")
        assert users.loc[user_idx, schemas.USER_ID] in text
        assert f"Top pick: {title}" in text
        assert page.locator('[data-testid="stDataFrame"]').count() >= 2
        assert page.locator('[data-testid="stException"]').count() == 0


def test_history_page_opens_a_run(chromium, history_warehouse):
    with serve(str(history_warehouse)) as url, browser_page() as page:
        open_history_page(page, url)
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]').length >= 4",
            timeout=60_000,
        )
        page.wait_for_selector("text=Night over night", timeout=60_000)
        text = page.inner_text("body")
        assert f"{len(HISTORY_ORDER)} runs, newest first" in text
        assert "Seconds per step" in text and "Night over night" in text
        assert page.locator('[data-testid="stVegaLiteChart"]').count() == 4
        assert page.locator('[data-testid="stException"]').count() == 0
        page.get_by_role("button", name="Open run").click()
        page.wait_for_selector(f"text=Run {LATEST_RUN}", timeout=60_000)
        page.wait_for_selector(f"text=Against the last published run, {OLD_RUN}")
        # Streamlit sends the page element by element: wait for the metrics themselves
        page.wait_for_selector('[data-testid="stMetric"] >> text=Top-10 churn', timeout=60_000)
        page.wait_for_selector('[data-testid="stMetric"] >> text=25.0%', timeout=60_000)
        text = page.inner_text("body")
        assert "Top-10 churn" in text and "25.0%" in text
