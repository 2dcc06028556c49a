"""The viewer over S3: the demo warehouse served by moto's server on 127.0.0.1 over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from recsys import schemas
from streamlit_app.screenshot import free_port
from tests.viewer_data import LATEST_RUN

BUCKET = "recsys-viewer"
PREFIX = "warehouse"
DUMMY_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _start_moto(port: int, enforce_auth: bool) -> subprocess.Popen:
    env = dict(os.environ)
    if enforce_auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # moto then checks access keys like AWS
    moto_server = Path(sys.executable).with_name("moto_server")
    return subprocess.Popen(
        [str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered (an auth-enforcing server says 403)
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"moto_server did not answer on {url}")


@pytest.fixture(scope="session")
def moto_endpoints():
    """Two moto S3 servers: an open one and one that checks credentials."""
    servers = {}
    try:
        for name, enforce in (("open", False), ("auth", True)):
            port = free_port()
            servers[name] = (f"http://127.0.0.1:{port}", _start_moto(port, enforce))
        for url, process in servers.values():
            _wait_for(url, process)
        yield {name: url for name, (url, _) in servers.items()}
    finally:
        for _, process in servers.values():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture()
def s3_env(monkeypatch, tmp_path):
    """An environment that talks to a local endpoint only, with no credentials of its own."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_S3",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        *DUMMY_KEYS,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    def use(endpoint: str, credentials: bool = True) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        for name, value in DUMMY_KEYS.items():
            if credentials:
                monkeypatch.setenv(name, value)
            else:
                monkeypatch.delenv(name, raising=False)

    return use


@pytest.fixture(scope="session")
def s3_warehouse(moto_endpoints, demo_warehouse) -> str:
    """The demo warehouse uploaded file by file to a bucket of the open server."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoints["open"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    root = Path(demo_warehouse.root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client.upload_file(str(path), BUCKET, f"{PREFIX}/{path.relative_to(root).as_posix()}")
    return f"s3://{BUCKET}/{PREFIX}"


def _errors(app) -> str:
    return " | ".join(e.value for e in app.error)


def test_viewer_reads_the_published_run_from_s3(
    s3_warehouse, moto_endpoints, s3_env, viewer, demo_warehouse
):
    s3_env(moto_endpoints["open"])
    app = viewer(s3_warehouse)
    assert not app.exception
    assert not app.error, _errors(app)
    assert app.selectbox(key="run").value == LATEST_RUN
    recs = demo_warehouse.frames[LATEST_RUN][schemas.USER_RECOMMENDATIONS]
    first_user = recs[schemas.USER].iloc[0]
    expected = recs[recs[schemas.USER] == first_user][schemas.SONG].tolist()
    shown = next(d.value for d in app.dataframe if schemas.REASON in d.value.columns)
    assert shown[schemas.SONG].tolist() == expected
    app.toggle(key="reblend").set_value(True).run()
    app.slider(key="alpha").set_value(0.0).run()
    assert not app.error, _errors(app)
    app.sidebar.radio(key="page").set_value("Song").run()
    app.text_input(key="song_query").set_value("daft").run()
    assert not app.error, _errors(app)
    assert len(app.selectbox(key="song").options) == 2
    app.sidebar.radio(key="page").set_value("Run").run()
    assert not app.error, _errors(app)
    assert [t.label for t in app.tabs] == ["Evaluation", "Quality report", "Manifest"]
    assert app.selectbox(key="metric").options


def test_empty_prefix_in_a_bucket(s3_warehouse, moto_endpoints, s3_env, viewer):
    s3_env(moto_endpoints["open"])
    app = viewer(f"s3://{BUCKET}/nothing-here")
    assert not app.exception
    assert "has no runs yet" in " | ".join(i.value for i in app.info)


def test_missing_bucket(moto_endpoints, s3_env, viewer):
    s3_env(moto_endpoints["open"])
    app = viewer("s3://no-such-bucket/warehouse")
    assert not app.exception
    assert "The S3 bucket 'no-such-bucket' does not exist" in _errors(app)


def test_refused_credentials(moto_endpoints, s3_env, viewer):
    s3_env(moto_endpoints["auth"])  # keys this server does not know
    app = viewer(f"s3://{BUCKET}/warehouse")
    assert not app.exception
    assert "S3 refused access" in _errors(app)


def test_no_credentials(moto_endpoints, s3_env, viewer):
    s3_env(moto_endpoints["auth"], credentials=False)
    app = viewer(f"s3://{BUCKET}/warehouse")
    assert not app.exception
    assert "No AWS credentials found" in _errors(app)
