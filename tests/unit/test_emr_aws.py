"""EMR commands over real HTTP against moto's server on 127.0.0.1 (never a patched client).

The server and the request recorder are the fixtures of :mod:`tests.unit.emr_moto`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from recsys import config
from recsys import steps as pipeline
from recsys.emr import definitions
from tests.support import REPO

from . import emr_moto
from .emr_helpers import expected_args, fake_steps, package_files
from .emr_moto import BUCKET, CODE, client, run_cli

# the fixtures this module uses, by name
moto_endpoint, aws, recorder = emr_moto.moto_endpoint, emr_moto.aws, emr_moto.recorder

EMR_CONF = str(REPO / "conf" / "emr.yaml")
BUILD = "build-1"


@pytest.fixture()
def packaged(aws, capsys):
    code, out, err = run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err
    return out


def s3_keys(prefix: str) -> set[str]:
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def s3_bytes(key: str) -> bytes:
    return client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()


# --------------------------------------------------------------------------- package


def test_package_uploads_the_expected_objects(packaged):
    prefix = f"code/{BUILD}/"
    expected = package_files()
    assert s3_keys(prefix) == {prefix + name for name in expected}
    manifest = json.loads(s3_bytes(prefix + "manifest.json"))
    assert manifest["version"] == BUILD
    assert [s["name"] for s in manifest["steps"]] == [s.name for s in pipeline.STEPS]
    for name, entry in manifest["files"].items():
        assert hashlib.sha256(s3_bytes(prefix + name)).hexdigest() == entry["sha256"], name
    assert s3_bytes(prefix + "conf/emr.yaml") == Path(EMR_CONF).read_bytes()
    assert s3_bytes(prefix + "bootstrap.sh") == (REPO / "emr" / "bootstrap.sh").read_bytes()
    assert f"packaged version {BUILD} at {CODE}/{BUILD}/" in packaged


def test_package_never_overwrites_a_version_unless_forced(packaged, capsys):
    marker = f"code/{BUILD}/stale-file.txt"
    client("s3").put_object(Bucket=BUCKET, Key=marker, Body=b"old")
    before = s3_bytes(f"code/{BUILD}/manifest.json")
    code, _, err = run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 1
    assert f"{CODE}/{BUILD}/ already holds" in err and "never overwritten" in err
    assert s3_bytes(f"code/{BUILD}/manifest.json") == before
    code, _, err = run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD, "--force")
    assert code == 0, err
    assert marker not in s3_keys(f"code/{BUILD}/")  # --force replaces the whole version


def test_package_without_build_id_uses_the_git_version(aws, capsys):
    from recsys.emr.package import git_version

    code, out, err = run_cli(capsys, "package", "--conf", EMR_CONF)
    assert code == 0, err
    version = git_version()
    assert f"code/{version}/manifest.json" in s3_keys("code/")
    assert f"packaged version {version}" in out


# --------------------------------------------------------------------------- submit


def _steps_of(cluster_id: str) -> list[dict]:
    return list(reversed(client("emr").list_steps(ClusterId=cluster_id)["Steps"]))


def _cluster_id_from(out: str) -> str:
    line = next(line for line in out.splitlines() if line.startswith("run "))
    return line.split()[-1]


def test_submit_creates_a_transient_cluster_running_the_pipeline(packaged, capsys):
    code, out, err = run_cli(
        capsys,
        "submit",
        "--conf",
        EMR_CONF,
        "--build-id",
        BUILD,
        "--run-id",
        "2026-03-01",
        "--set",
        "emr.instance_mode=groups",
        "--set",
        "als.rank=16",
    )
    assert code == 0, err
    cluster_id = _cluster_id_from(out)
    assert "transient cluster" in out
    assert f"recsys emr wait --cluster-id {cluster_id}" in out
    assert "aws emr wait" not in out  # boto3's waiters follow the run, not the user

    emr = client("emr")
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["Name"] == "recsys-2026-03-01"
    assert cluster["ReleaseLabel"] == "emr-7.13.0"
    assert cluster["LogUri"] == f"s3://{BUCKET}/emr-logs/"
    assert cluster["AutoTerminate"] is True  # KeepJobFlowAliveWhenNoSteps=False
    assert {"Key": "recsys:run-id", "Value": "2026-03-01"} in cluster["Tags"]
    assert {a["Name"] for a in cluster["Applications"]} >= {"Spark"}

    steps = _steps_of(cluster_id)
    root = f"{CODE}/{BUILD}"
    assert [s["Name"] for s in steps] == [f"{s.name} (2026-03-01)" for s in pipeline.STEPS]
    for step, got in zip(pipeline.STEPS, steps, strict=True):
        assert got["Config"]["Jar"] == "command-runner.jar"
        assert got["ActionOnFailure"] == "TERMINATE_CLUSTER"
        # emr.* overrides shape the cluster; the others reach every job
        assert got["Config"]["Args"] == expected_args(step, root, "emr.yaml", "2026-03-01") + [
            "--set",
            "als.rank=16",
        ]
        # every S3 path a step names was uploaded by `emr package`
        for arg in got["Config"]["Args"]:
            if arg.startswith("s3://"):
                key = arg.split("/", 3)[3].split("#")[0]  # env.tar.gz#environment: its alias
                client("s3").head_object(Bucket=BUCKET, Key=key)

    bootstrap = emr.list_bootstrap_actions(ClusterId=cluster_id)["BootstrapActions"]
    assert bootstrap[0]["ScriptPath"] == f"{root}/bootstrap.sh"
    assert bootstrap[0]["Args"] == ["/usr/bin/python3.11"]  # an interpreter check, no install
    groups = {
        g["InstanceGroupType"]: g
        for g in emr.list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]
    }
    assert groups["MASTER"]["Market"] == "ON_DEMAND"
    assert groups["CORE"]["Market"] == "SPOT"
    assert groups["TASK"]["Market"] == "SPOT"
    assert groups["CORE"]["InstanceType"] == "r5.2xlarge"


def test_submit_refuses_a_version_that_was_never_packaged(aws, capsys):
    code, _, err = run_cli(capsys, "submit", "--conf", EMR_CONF, "--build-id", "nope")
    assert code == 1
    assert "code version nope is not packaged" in err and "recsys emr package" in err
    assert client("emr").list_clusters()["Clusters"] == []


def test_submit_to_a_running_cluster_adds_the_steps_in_order(packaged, capsys, monkeypatch):
    monkeypatch.setattr(pipeline, "STEPS", fake_steps())
    running = emr_moto.run_cluster("recsys-shared")
    code, out, err = run_cli(
        capsys,
        "submit",
        "--conf",
        EMR_CONF,
        "--build-id",
        BUILD,
        "--run-id",
        "r7",
        "--cluster-id",
        running,
        "--set",
        "emr.release_label=emr-7.12.0",
    )
    assert code == 0, err
    assert f"on cluster {running}" in out
    # the Spark check asks about the cluster's own release, not the configured one
    assert "release emr-7.13.0: Spark version not asked (fallback: DescribeReleaseLabel" in err
    assert "instance types" not in err  # the cluster exists: its types are chosen
    steps = _steps_of(running)
    assert [s["Name"] for s in steps] == [f"{s.name} (r7)" for s in fake_steps()]
    assert {s["ActionOnFailure"] for s in steps} == {"CANCEL_AND_WAIT"}
    for step, got in zip(fake_steps(), steps, strict=True):
        assert got["Config"]["Args"] == expected_args(step, f"{CODE}/{BUILD}", "emr.yaml", "r7")

    # status reads the steps back, in pipeline order, with their states
    code, out, err = run_cli(capsys, "status", "--conf", EMR_CONF, "--cluster-id", running)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.strip().startswith("[")]
    assert [line.split()[1] for line in lines] == [s.name for s in fake_steps()]
    states = {s["Id"]: s["Status"]["State"] for s in steps}
    for line in lines:
        step_id = line.split()[-1]
        assert states[step_id] in line

    # logs says where each step's logs go
    code, out, err = run_cli(capsys, "logs", "--conf", EMR_CONF, "--cluster-id", running)
    assert code == 0, err
    for step in steps:
        assert f"s3://{BUCKET}/emr-logs/{running}/steps/{step['Id']}/" in out
    code, out, _ = run_cli(
        capsys, "logs", "--conf", EMR_CONF, "--cluster-id", running, "--step", "publish"
    )
    assert out.count("  step ") == 1 and "step publish (r7)" in out


def test_status_without_cluster_id_follows_the_newest_recsys_cluster(packaged, capsys):
    code, out, _ = run_cli(
        capsys, "submit", "--conf", EMR_CONF, "--build-id", BUILD, "--run-id", "2026-03-02"
    )
    assert code == 0
    cluster_id = _cluster_id_from(out)
    code, out, err = run_cli(capsys, "status", "--conf", EMR_CONF, "--json")
    assert code == 0, err
    state = json.loads(out)
    assert state["cluster_id"] == cluster_id
    assert [s["name"] for s in state["steps"]] == [f"{s.name} (2026-03-02)" for s in pipeline.STEPS]
    assert all(s["state"] in {"PENDING", "RUNNING", "COMPLETED"} for s in state["steps"])


# --------------------------------------------------------------------------- schedule


def test_schedule_deploy_show_remove(packaged, capsys):
    cfg = config.load(EMR_CONF)
    code, out, err = run_cli(capsys, "schedule", "deploy", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err
    assert "state machine created" in out and "schedule created" in out

    sfn = client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    assert [m["name"] for m in machines] == ["recsys-nightly"]
    arn = machines[0]["stateMachineArn"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    layout = definitions.layout_for(cfg, BUILD, "emr.yaml")
    assert json.loads(described["definition"]) == definitions.state_machine_definition(cfg, layout)
    assert described["roleArn"] == cfg.emr.schedule.state_machine_role_arn

    schedule = client("scheduler").get_schedule(Name="recsys-nightly", GroupName="default")
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == arn
    assert schedule["Target"]["RoleArn"] == cfg.emr.schedule.scheduler_role_arn
    assert json.loads(schedule["Target"]["Input"]) == {
        "scheduled_time": "<aws.scheduler.scheduled-time>"
    }

    code, out, err = run_cli(capsys, "schedule", "show", "--conf", EMR_CONF)
    assert code == 0, err
    assert f"state machine {arn}" in out and f"code version {BUILD}" in out
    assert "cron(0 2 * * ? *) UTC ENABLED" in out
    assert "Run ingest" in out

    # deploying again updates in place (a new version, a new timetable)
    code, out, err = run_cli(
        capsys,
        "schedule",
        "deploy",
        "--conf",
        EMR_CONF,
        "--build-id",
        BUILD,
        "--set",
        "emr.schedule.cron=cron(30 3 * * ? *)",
    )
    assert code == 0, err
    assert "state machine updated" in out and "schedule updated" in out
    assert len(sfn.list_state_machines()["stateMachines"]) == 1
    schedule = client("scheduler").get_schedule(Name="recsys-nightly", GroupName="default")
    assert schedule["ScheduleExpression"] == "cron(30 3 * * ? *)"

    code, out, err = run_cli(capsys, "schedule", "remove", "--conf", EMR_CONF)
    assert code == 0, err
    assert "schedule recsys-nightly: removed" in out
    assert "state machine recsys-nightly: removed" in out
    assert sfn.list_state_machines()["stateMachines"] == []
    assert client("scheduler").list_schedules()["Schedules"] == []

    code, out, _ = run_cli(capsys, "schedule", "show", "--conf", EMR_CONF)
    assert "not deployed" in out
    code, out, _ = run_cli(capsys, "schedule", "remove", "--conf", EMR_CONF)
    assert code == 0 and out.count("was not there") == 3  # schedule, machine, alerts


def test_schedule_deploy_needs_a_packaged_version(aws, capsys):
    code, _, err = run_cli(capsys, "schedule", "deploy", "--conf", EMR_CONF, "--build-id", "x9")
    assert code == 1 and "code version x9 is not packaged" in err
    assert client("stepfunctions").list_state_machines()["stateMachines"] == []


# --------------------------------------------------------------------------- no AWS call


def test_recorder_sees_requests_of_a_valid_config(recorder, capsys):
    code, _, err = run_cli(capsys, "submit", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 1 and "error: AWS" in err
    assert recorder, "a valid config must reach the endpoint"


@pytest.mark.parametrize(
    "command, overrides, expected",
    [
        (
            "submit",
            ["emr.code_prefix=s3:///code"],
            "emr.code_prefix: 's3:///code' is missing the bucket",
        ),
        ("package", ["emr.code_prefix=null"], "emr.code_prefix: missing"),
        ("submit", ["emr.core.instance_types=[r5-2xlarge]"], "emr.core.instance_types[0]"),
        ("status", ["emr.task.instance_types=[huge]"], "emr.task.instance_types[0]: 'huge'"),
        ("submit", ["emr.release_label=emr-7.13"], "'emr-7.13' is not a release"),
        ("package", ["emr.release_label=emr-6.15.0"], "emr.release_label"),
        ("logs", ["warehouse.dir=warehouse"], "warehouse.dir"),
        (
            "schedule deploy",
            ["emr.schedule.scheduler_role_arn=null"],
            "emr.schedule.scheduler_role_arn: missing",
        ),
        ("schedule remove", ["emr.schedule.cron=nightly"], "emr.schedule.cron"),
    ],
)
def test_bad_config_fails_before_any_aws_call(recorder, capsys, command, overrides, expected):
    sets = [arg for item in overrides for arg in ("--set", item)]
    code, out, err = run_cli(capsys, *command.split(), "--conf", EMR_CONF, *sets)
    assert code == 2
    assert expected in err
    assert recorder == []
