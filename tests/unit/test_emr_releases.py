"""The release checks EMR answers: DescribeReleaseLabel (the release's Spark) and
ListSupportedInstanceTypes (the types it supports), before anything is created.

The API path runs against a small HTTP stand-in on 127.0.0.1 that answers both operations in
the shapes of the EMR API reference; the fallback path runs over moto's server, which lacks
DescribeReleaseLabel (it answers 500) and lists instance types only for the releases it has
data for.
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from recsys.emr import releases
from tests.support import REPO

from . import emr_moto
from .emr_moto import client, run_cli

moto_endpoint, aws, recorder = emr_moto.moto_endpoint, emr_moto.aws, emr_moto.recorder
EMR_CONF = str(REPO / "conf" / "emr.yaml")
BUILD = "build-r"
PINNED = releases.pinned_spark_version()


def _type(name: str) -> dict:
    """A ``SupportedInstanceType`` as the API reference's response syntax lists its fields."""
    return {
        "Type": name,
        "MemoryGB": 64.0,
        "StorageGB": 0,
        "VCPU": 8,
        "Is64BitsOnly": True,
        "InstanceFamilyId": name.split(".")[0],
        "EbsOptimizedAvailable": True,
        "EbsOptimizedByDefault": True,
        "NumberOfDisks": 0,
        "EbsStorageOnly": True,
        "Architecture": "X86_64",
    }


class _Emr(http.server.BaseHTTPRequestHandler):
    """EMR's JSON protocol for the two operations; anything else answers 500."""

    spark = {"emr-7.13.0": PINNED, "emr-7.10.0": "3.5.5"}
    pages = {
        None: (["m5.xlarge", "r5.2xlarge"], "page-2"),
        "page-2": (["r5a.2xlarge", "r6i.2xlarge"], None),
    }
    seen: list[tuple[str, dict]] = []

    def _reply(self, status: int, doc: dict) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _unknown(self, label: str) -> None:
        message = f"The specified release label {label} is not valid."
        self._reply(400, {"__type": "InvalidRequestException", "Message": message})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        target = (self.headers.get("X-Amz-Target") or f"{self.command} {self.path}").split(".")[-1]
        doc = json.loads(raw) if target != f"{self.command} {self.path}" and raw else {}
        type(self).seen.append((target, doc))
        label = doc.get("ReleaseLabel", "")
        if target == "DescribeReleaseLabel":
            if label not in self.spark:
                return self._unknown(label)
            apps = [{"Name": "hadoop", "Version": "3.4.1"}]
            apps.append({"Name": "spark", "Version": self.spark[label]})
            return self._reply(200, {"ReleaseLabel": label, "Applications": apps})
        if target == "ListSupportedInstanceTypes":
            if label not in self.spark:
                return self._unknown(label)
            names, marker = self.pages[doc.get("Marker")]
            page = {"SupportedInstanceTypes": [_type(n) for n in names]}
            return self._reply(200, page | ({"Marker": marker} if marker else {}))
        self._reply(500, {})

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def emr_api(monkeypatch):
    """The stand-in as the endpoint of every client; the requests it saw."""
    _Emr.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Emr)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    emr_moto._aws_env(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    yield _Emr.seen
    server.shutdown()
    server.server_close()


def _submit(capsys, *sets: str) -> tuple[int, str, str]:
    args = [a for item in sets for a in ("--set", item)]
    return run_cli(capsys, "submit", "--conf", EMR_CONF, "--build-id", BUILD, *args)


# --------------------------------------------------------------------------- the API path


def test_the_release_spark_comes_from_describe_release_label(emr_api):
    check = releases.check_spark(client("emr"), "emr-7.13.0", PINNED)
    assert (check.spark, check.problem) == (PINNED, None)
    assert check.note() == f"release emr-7.13.0: Spark {PINNED} (DescribeReleaseLabel)"
    assert emr_api == [("DescribeReleaseLabel", {"ReleaseLabel": "emr-7.13.0"})]


def test_supported_types_follow_the_marker_through_every_page(emr_api):
    types = releases.supported_instance_types(client("emr"), "emr-7.13.0")
    assert types == {"m5.xlarge", "r5.2xlarge", "r5a.2xlarge", "r6i.2xlarge"}
    markers = [doc.get("Marker") for target, doc in emr_api]
    assert markers == [None, "page-2"]


def test_a_valid_config_passes_both_checks_before_the_first_other_request(emr_api, capsys):
    code, out, err = _submit(capsys)
    assert code == 1 and "error: AWS" in err  # the stand-in has no S3: the package check fails
    assert f"release emr-7.13.0: Spark {PINNED} (DescribeReleaseLabel)" in err
    assert "supported in us-east-1 (ListSupportedInstanceTypes, 4 types)" in err
    targets = [target for target, _ in emr_api]
    assert targets[:3] == ["DescribeReleaseLabel", *["ListSupportedInstanceTypes"] * 2]
    assert "RunJobFlow" not in targets


def test_submit_refuses_a_release_whose_spark_is_not_the_pin(emr_api, capsys):
    code, _, err = _submit(capsys, "emr.release_label=emr-7.10.0")
    assert code == 2
    assert (
        f"emr.release_label: emr-7.10.0 ships Spark 3.5.5 (DescribeReleaseLabel) but pyspark is "
        f"pinned to {PINNED}" in err
    )
    assert "RunJobFlow" not in [target for target, _ in emr_api]


def test_submit_refuses_a_release_emr_does_not_know_with_its_message(emr_api, capsys):
    code, _, err = _submit(capsys, "emr.release_label=emr-7.98.0")
    assert code == 2
    assert "emr.release_label: emr-7.98.0: The specified release label emr-7.98.0 is not" in err
    assert "emr.release_label: ListSupportedInstanceTypes refused emr-7.98.0" in err


def test_submit_refuses_a_type_the_release_does_not_support_naming_key_and_type(emr_api, capsys):
    code, _, err = _submit(capsys, "emr.task.instance_types=[r5a.2xlarge,m7i.xlarge]")
    assert code == 2
    assert (
        "emr.task.instance_types[1]: m7i.xlarge is not supported by emr-7.13.0 in us-east-1" in err
    )
    assert "emr.task.instance_types[0]" not in err  # listed on the second page: supported
    assert "emr.core.instance_types" not in err
    assert "RunJobFlow" not in [target for target, _ in emr_api]


# --------------------------------------------------------------------------- over moto


def _package(capsys) -> None:
    code, _, err = run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err


def test_over_moto_the_spark_check_falls_back_and_says_why(aws, capsys):
    _package(capsys)
    code, out, err = _submit(capsys)
    assert code == 0, err
    assert (
        "release emr-7.13.0: Spark version not asked (fallback: DescribeReleaseLabel not "
        "reachable (500); only checked that EMR 7.x ships Spark 3.5.x, not the patch)" in err
    )
    # moto lists the instance types of the releases it has data for: the API path
    assert (
        "instance types for emr-7.13.0: supported in us-east-1 (ListSupportedInstanceTypes" in err
    )
    assert len(client("emr").list_clusters()["Clusters"]) == 1

    code, out, err = run_cli(capsys, "schedule", "deploy", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err
    assert "release emr-7.13.0: Spark version not asked (fallback: DescribeReleaseLabel" in err


def test_over_moto_an_unsupported_type_is_refused_before_the_cluster(aws, capsys):
    _package(capsys)
    # the shape check passes r5.3xlarge; moto's list for emr-7.13.0 has no such type
    code, _, err = _submit(capsys, "emr.core.instance_types=[r5.2xlarge,r5.3xlarge]")
    assert code == 2
    assert "emr.core.instance_types[1]: r5.3xlarge is not supported by emr-7.13.0" in err
    assert client("emr").list_clusters()["Clusters"] == []


def test_over_moto_a_release_without_data_falls_back_to_the_shape_check(aws, capsys):
    _package(capsys)
    code, out, err = _submit(capsys, "emr.release_label=emr-7.99.0")
    assert code == 0, err
    assert (
        "instance types for emr-7.99.0: fallback: ListSupportedInstanceTypes not reachable "
        "(500); only their shape is checked" in err
    )
    assert "release emr-7.99.0: Spark version not asked (fallback:" in err


def test_the_fallback_still_refuses_another_emr_line(aws, capsys):
    check = releases.check_spark(client("emr"), "emr-7.13.0", "3.4.1")
    assert check.source.startswith("fallback: DescribeReleaseLabel not reachable")
    assert "EMR 7.x ships Spark 3.5.x but pyspark is pinned to 3.4.1" in check.problem


# --------------------------------------------------------------------------- offline


def test_render_asks_aws_nothing(recorder, capsys, tmp_path):
    args = ["render", "--conf", EMR_CONF, "--build-id", "b1", "--out", str(tmp_path)]
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    assert recorder == []
