"""Following and finding runs over moto's server: the newest cluster, ``submit --wait``."""

from __future__ import annotations

import threading
import time

import pytest

from recsys import config
from recsys import steps as pipeline
from recsys.emr import aws as emr_aws
from recsys.emr import follow
from tests.support import REPO

from . import emr_moto
from .emr_moto import client

moto_endpoint, aws = emr_moto.moto_endpoint, emr_moto.aws
EMR_CONF = str(REPO / "conf" / "emr.yaml")


def test_latest_cluster_prefers_a_live_one_then_the_newest_finished(aws):
    cfg = config.load(EMR_CONF)
    with pytest.raises(emr_aws.EmrError, match="pass --cluster-id"):
        emr_aws.latest_cluster_id(cfg)
    live = emr_moto.run_cluster("recsys-2026-03-01")
    emr_moto.run_cluster("other-2026-03-02")  # not ours, even if newer
    finished = emr_moto.run_cluster("recsys-2026-03-03")
    client("emr").terminate_job_flows(JobFlowIds=[finished])
    assert emr_aws.latest_cluster_id(cfg) == live
    client("emr").terminate_job_flows(JobFlowIds=[live])
    assert emr_aws.latest_cluster_id(cfg) == finished


# --------------------------------------------------------------------------- submit --wait
#
# moto leaves steps RUNNING/PENDING for ever; these tests run moto's server in this process
# (still over HTTP) so that a thread can play the cluster: complete (or fail) each step in
# turn, then terminate, while boto3's waiters poll through the API.

BUILD = "build-w"


# moto's server in this process: the tests reach its backends to play a cluster's steps
moto_endpoint = emr_moto.threaded_moto_endpoint  # noqa: F811


def _backend_cluster(cluster_id: str):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.emr.models import emr_backends

    return emr_backends[DEFAULT_ACCOUNT_ID][emr_moto.REGION].clusters[cluster_id]


class _Cluster(threading.Thread):
    """Plays an EMR cluster: each step RUNNING then COMPLETED (``fail_at``: FAILED there)."""

    def __init__(
        self, fail_at: int | None = None, terminate: bool = True, go: threading.Event | None = None
    ):
        super().__init__(daemon=True)
        self.fail_at, self.terminate, self.done = fail_at, terminate, threading.Event()
        self.go = go  # when given, the cluster makes no progress until it is set

    def run(self) -> None:
        if self.go is not None:
            self.go.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            clusters = client("emr").list_clusters()["Clusters"]
            if clusters:
                break
            time.sleep(0.05)
        cluster = _backend_cluster(clusters[0]["Id"])
        for i, step in enumerate(cluster.steps):
            time.sleep(0.3)
            step.state = "FAILED" if i == self.fail_at else "COMPLETED"
            if i == self.fail_at:
                for later in cluster.steps[i + 1 :]:
                    later.state = "CANCELLED"
                break
            if i + 1 < len(cluster.steps):
                cluster.steps[i + 1].state = "RUNNING"
        if self.terminate:
            time.sleep(0.3)
            cluster.terminate()
        self.done.set()


def _submit_wait(capsys, *extra: str) -> tuple[int, str, str]:
    code, _, err = emr_moto.run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err
    return emr_moto.run_cli(
        capsys,
        "submit",
        "--conf",
        EMR_CONF,
        "--build-id",
        BUILD,
        "--run-id",
        "2026-04-01",
        "--wait",
        "--set",
        "emr.wait_delay_seconds=1",
        *extra,
    )


def test_submit_wait_follows_every_step_and_the_termination(aws, capsys, monkeypatch):
    monkeypatch.setattr(pipeline, "STEPS", pipeline.STEPS[:3])
    player = _Cluster()
    player.start()
    code, out, err = _submit_wait(capsys)
    assert code == 0, err
    assert player.done.is_set()
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert lines == [
        f"[{i}/3] {s.name} (2026-04-01): COMPLETED" for i, s in enumerate(pipeline.STEPS, 1)
    ]
    assert out.rstrip().endswith("run 2026-04-01: every step COMPLETED")
    assert "TERMINATED" in out


def test_submit_wait_stops_at_the_failed_step_and_exits_1(aws, capsys, monkeypatch):
    monkeypatch.setattr(pipeline, "STEPS", pipeline.STEPS[:3])
    player = _Cluster(fail_at=1)
    player.start()
    code, out, err = _submit_wait(capsys)
    assert code == 1
    name = pipeline.STEPS[1].name
    assert f"step 2/3 {name} (2026-04-01) FAILED" in err
    assert f"--step {name}" in err and "the later steps do not run" in err
    assert f"[1/3] {pipeline.STEPS[0].name} (2026-04-01): COMPLETED" in out
    assert "every step COMPLETED" not in out


def test_waiters_poll_for_as_long_as_the_configured_timeouts():
    cfg = config.load(EMR_CONF, ["emr.wait_delay_seconds=30"])
    assert follow._waiter_config(cfg, 10800) == {"Delay": 30, "MaxAttempts": 360}
    assert follow._waiter_config(cfg, 3601) == {"Delay": 30, "MaxAttempts": 121}  # rounds up


def test_wait_gives_up_on_a_step_that_outlasts_its_timeout(aws, capsys, monkeypatch):
    monkeypatch.setattr(pipeline, "STEPS", pipeline.STEPS[:1])
    # no player: the step stays RUNNING; two 1-second polls stand for the step timeout
    monkeypatch.setattr(
        follow, "_waiter_config", lambda cfg, timeout: {"Delay": 1, "MaxAttempts": 2}
    )
    code, _, err = _submit_wait(capsys)
    assert code == 1
    assert f"step 1/1 {pipeline.STEPS[0].name} (2026-04-01) did not finish in time" in err


def test_wait_command_follows_the_unfinished_steps_of_a_cluster(aws, capsys, monkeypatch):
    monkeypatch.setattr(pipeline, "STEPS", pipeline.STEPS[:2])
    code, out, err = emr_moto.run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err
    code, out, err = emr_moto.run_cli(
        capsys, "submit", "--conf", EMR_CONF, "--build-id", BUILD, "--run-id", "2026-04-02"
    )
    assert code == 0, err
    # the cluster moves only once `wait` has read which steps are left (no race on a busy CPU)
    go = threading.Event()
    unfinished = follow.unfinished

    def read_then_go(cfg, cluster_id):
        found = unfinished(cfg, cluster_id)
        go.set()
        return found

    monkeypatch.setattr(follow, "unfinished", read_then_go)
    player = _Cluster(go=go)
    player.start()
    code, out, err = emr_moto.run_cli(
        capsys, "wait", "--conf", EMR_CONF, "--set", "emr.wait_delay_seconds=1"
    )
    assert code == 0, err
    assert "waiting for 2 step(s)" in out
    assert f"[2/2] {pipeline.STEPS[1].name} (2026-04-02): COMPLETED" in out
    assert "TERMINATED" in out
