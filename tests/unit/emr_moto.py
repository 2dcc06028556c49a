"""moto's server on 127.0.0.1 for the EMR tests: real HTTP, never a patched client.

One ``moto_server`` process per test session; each test resets its state through
``/moto-api/reset`` and talks to it through ``AWS_ENDPOINT_URL``, exactly as boto3 would talk
to AWS. A recorder that counts requests proves that a bad config fails before any request.
Import the fixtures (``moto_endpoint``, ``aws``, ``recorder``) into a test module to use them.
"""

from __future__ import annotations

import atexit
import functools
import http.server
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from recsys import cli

BUCKET = "my-recsys-bucket"
CODE = f"s3://{BUCKET}/code"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_endpoint():
    """``moto_server -H 127.0.0.1 -p <free port>`` for the session; its URL."""
    port = _free_port()
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )
    cmd = [exe] if exe else [sys.executable, "-m", "moto.server"]
    proc = subprocess.Popen(
        [*cmd, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/moto-api/")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _aws_env(monkeypatch, endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def aws(moto_endpoint, monkeypatch):
    """A clean moto with the project bucket; boto3 clients reach it via AWS_ENDPOINT_URL, and
    ``recsys emr package`` takes its wheels from :func:`fake_wheel_dir` (no network)."""
    _aws_env(monkeypatch, moto_endpoint)
    monkeypatch.setenv("RECSYS_EMR_WHEEL_DIR", str(fake_wheel_dir()))
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    return moto_endpoint


def make_wheel(folder: Path, name: str, version: str, module: str) -> Path:
    """A tiny pure-Python wheel (test data: stands in for the real manylinux wheels)."""
    import zipfile

    dist = f"{name}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{dist}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for entry, text in files.items():
            archive.writestr(entry, text)
    return path


MODULES = {"PyYAML": "yaml"}  # distribution -> import name, where they differ


@functools.cache
def fake_wheel_dir() -> Path:
    """A wheel for each pin the cluster needs, so ``recsys emr package`` runs offline."""
    from recsys.emr.package import cluster_requirements
    from tests.support import REPO

    folder = Path(tempfile.mkdtemp(prefix="recsys-wheels-"))
    atexit.register(shutil.rmtree, folder, True)
    for pin in cluster_requirements(REPO / "requirements.txt"):
        name, version = pin.split("==")
        make_wheel(folder, name, version, MODULES.get(name, name.lower()))
    return folder


@pytest.fixture(scope="module")
def threaded_moto_endpoint():
    """moto's server in this process (a module may swap it in for ``moto_endpoint`` to reach
    moto's backends directly, e.g. to play a cluster's steps to their end)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def run_cluster(name: str, keep_alive: bool = True) -> str:
    """A bare one-node cluster started over moto's API (a cluster this tool did not make)."""
    return client("emr").run_job_flow(
        Name=name,
        ReleaseLabel="emr-7.13.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]


def client(service: str):
    return boto3.client(service, region_name=REGION)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["emr", *args])
    out, err = capsys.readouterr()
    return code, out, err


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def _any(self) -> None:
        type(self).requests.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def recorder(monkeypatch):
    """An endpoint that answers 500 and remembers every request it got."""
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _aws_env(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    yield _Recorder.requests
    server.shutdown()
    server.server_close()
