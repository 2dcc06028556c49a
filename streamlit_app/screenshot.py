"""Take the README's picture of the viewer: ``python streamlit_app/screenshot.py --warehouse DIR``
(``--page History --out docs/history.png`` for the History page).

Starts ``recsys viewer`` on 127.0.0.1 at a free port, opens the user page in headless
Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) and writes a PNG
(``docs/viewer.png`` by default). The browser test uses the same helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
READY_SELECTOR = '[data-testid="stDataFrame"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(
    warehouse: str, port: int | None = None, cwd: str | None = None, timeout: float = 60.0
) -> Iterator[str]:
    """Run ``recsys viewer`` headless on 127.0.0.1; yield its URL; stop it on exit."""
    port = port or free_port()
    env = {
        **os.environ,
        "STREAMLIT_SERVER_HEADLESS": "true",
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
        "STREAMLIT_CLIENT_TOOLBAR_MODE": "viewer",  # no Deploy button in the picture
    }
    cmd = [sys.executable, "-m", "recsys.cli", "viewer", "--warehouse", warehouse]
    cmd += ["--port", str(port)]
    log = tempfile.TemporaryFile()  # the server's output, shown if it fails to start
    # its own process group: recsys viewer starts streamlit as a child, both stop together
    process = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"viewer exited with {process.returncode}: {log.read()!r}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"viewer did not answer on {url} within {timeout:.0f}s")
            time.sleep(0.3)
        yield url
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    """Stop the viewer's process group (the group this module started, by its id)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[object]:
    """A Playwright page in Debian's headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def open_user_page(page, url: str, user_id: str | None = None, timeout_ms: int = 60_000) -> None:
    """Load the user page (of ``user_id`` or the first example) and wait for its tables."""
    query = "?page=User" + (f"&user={user_id}" if user_id else "")
    page.goto(url + "/" + query)
    page.wait_for_selector(READY_SELECTOR, timeout=timeout_ms)
    page.wait_for_selector("text=Top pick", timeout=timeout_ms)
    page.wait_for_timeout(1000)  # let the data grids paint


def open_history_page(page, url: str, timeout_ms: int = 60_000) -> None:
    """Load the History page and wait for its table and its trend charts."""
    page.goto(url + "/?page=History")
    page.wait_for_selector(READY_SELECTOR, timeout=timeout_ms)
    page.wait_for_selector("text=Run history", timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stVegaLiteChart"]', timeout=timeout_ms)
    page.wait_for_timeout(1500)  # let the grids and charts paint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, help="local folder or s3:// prefix")
    parser.add_argument("--out", default=str(REPO / "docs" / "viewer.png"))
    parser.add_argument("--user", help="user id to show (default: the first example user)")
    parser.add_argument("--page", choices=("User", "History"), default="User")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with serve(args.warehouse) as url, browser_page() as page:
        if args.page == "History":
            open_history_page(page, url)
        else:
            open_user_page(page, url, args.user)
        page.screenshot(path=args.out, full_page=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
