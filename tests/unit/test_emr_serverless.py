"""EMR Serverless: the requests (offline, against botocore's shapes), the nightly machine on
``emr-serverless:startJobRun.sync``, and the commands over moto's server (in this process, so a
test can make a job run fail)."""

from __future__ import annotations

import json

import pytest

from recsys import config
from recsys import steps as pipeline
from recsys.emr import checks, definitions, serverless, shapes
from tests.support import REPO

from . import emr_moto
from .emr_helpers import evaluate, fake_steps, resolve_parameters, task_states
from .emr_moto import client, run_cli

EMR_CONF = str(REPO / "conf" / "emr.yaml")
ROLE = "arn:aws:iam::123456789012:role/recsys-serverless-job"
BUILD = "build-s"
aws, recorder = emr_moto.aws, emr_moto.recorder


moto_endpoint = emr_moto.threaded_moto_endpoint


def emr_cfg(*overrides: str) -> config.Config:
    return config.load(EMR_CONF, list(overrides))


def _camel(node):
    if isinstance(node, dict):
        return {k[0].lower() + k[1:]: (v if k == "Tags" else _camel(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_camel(v) for v in node]
    return node


# --------------------------------------------------------------------------- requests


def test_job_run_carries_the_same_environment_code_and_interpreter_as_a_cluster_step():
    cfg = emr_cfg()
    layout = definitions.layout_for(cfg, "v1")
    step = pipeline.STEPS[0]
    request = serverless.job_run_request(cfg, layout, step, "2026-05-01", "app1", ("als.rank=8",))
    shapes.check_request("emr-serverless", "StartJobRun", request)
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == layout.job_uri(step)
    assert driver["entryPointArguments"] == [
        "--conf",
        layout.conf_uri,
        "--run-id",
        "2026-05-01",
        "--set",
        "als.rank=8",
    ]
    cluster_args = definitions.spark_submit_args(step, layout, "2026-05-01", (), cfg.emr.python)
    params = driver["sparkSubmitParameters"]
    assert f"--archives {cluster_args[cluster_args.index('--archives') + 1]}" in params
    assert f"--py-files {layout.pyfiles_uri}" in params
    for key in (
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON",
        "spark.executorEnv.PYSPARK_PYTHON",
    ):
        assert f"--conf {key}=/usr/bin/python3.11" in params
    assert "--conf spark.executorEnv.PYTHONPATH=./environment" in params
    assert request["executionTimeoutMinutes"] == cfg.emr.schedule.step_timeout_seconds // 60
    assert request["executionRoleArn"] == ROLE


def test_application_request_follows_the_config():
    plain = serverless.application_request(emr_cfg())
    shapes.check_request("emr-serverless", "CreateApplication", plain)
    assert plain["releaseLabel"] == "emr-7.13.0" and plain["type"] == "SPARK"
    assert "initialCapacity" not in plain and "imageConfiguration" not in plain
    warm = serverless.application_request(
        emr_cfg(
            "emr.serverless.initial_executors=2",
            "emr.serverless.image_uri=123456789012.dkr.ecr.us-east-1.amazonaws.com/recsys:py311",
        )
    )
    shapes.check_request("emr-serverless", "CreateApplication", warm)
    assert set(warm["initialCapacity"]) == {"EXECUTOR"}
    assert warm["initialCapacity"]["EXECUTOR"]["workerCount"] == 2
    assert warm["imageConfiguration"]["imageUri"].endswith("recsys:py311")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("emr.serverless.execution_role_arn=null", "emr.serverless.execution_role_arn: missing"),
        ("emr.serverless.execution_role_arn=role", "emr.serverless.execution_role_arn: 'role'"),
        ("emr.serverless.max_cpu=400 cores", "emr.serverless.max_cpu: '400 cores'"),
        ("emr.serverless.driver_memory=16G", "emr.serverless.driver_memory"),
    ],
)
def test_bad_serverless_config_names_the_key(override, expected):
    with pytest.raises(checks.EmrConfigError) as err:
        checks.validate(emr_cfg(override), serverless=True)
    assert expected in str(err.value)
    checks.validate(emr_cfg(override))  # the cluster target does not need it


# --------------------------------------------------------------------------- state machine


def test_serverless_machine_runs_each_step_as_a_job_run_in_order(monkeypatch):
    monkeypatch.setattr(pipeline, "STEPS", fake_steps())
    cfg = emr_cfg()
    layout = definitions.layout_for(cfg, "v1")
    asl = serverless.state_machine_definition(cfg, layout, "app123")
    states = asl["States"]
    assert asl["TimeoutSeconds"] == cfg.emr.schedule.timeout_seconds
    name, order = states["Only run"]["Default"], []
    while True:
        order.append(name)
        if states[name].get("End"):
            break
        name = states[name]["Next"]
    assert order == [f"Run {s.name}" for s in pipeline.STEPS]
    data = {"run_id": "2026-05-01"}
    for step in pipeline.STEPS:
        state = states[f"Run {step.name}"]
        assert state["Resource"] == "arn:aws:states:::emr-serverless:startJobRun.sync"
        assert state["TimeoutSeconds"] == cfg.emr.schedule.step_timeout_seconds
        assert state["Catch"][0]["Next"] == "Pipeline failed"
        params = dict(state["Parameters"])
        assert params.pop("ClientToken.$") == "States.UUID()"
        resolved = _camel(resolve_parameters(params, data))
        assert resolved["applicationId"] == "app123"
        assert resolved["name"] == f"{step.name} (2026-05-01)"
        resolved["clientToken"] = "t-1"
        shapes.check_request("emr-serverless", "StartJobRun", resolved)
        expected = serverless.job_run_request(cfg, layout, step, "2026-05-01", "app123")
        assert resolved["jobDriver"] == expected["jobDriver"]
    # the guard comes first, and every task ends in a Fail state when it fails
    assert states["Given run id"]["Next"] == "Check running"
    assert evaluate("States.ArrayLength($.e)", {"e": [1, 2]}) == 2
    for name, state in task_states(asl).items():
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name
        assert states[state["Catch"][0]["Next"]]["Type"] == "Fail", name


# --------------------------------------------------------------------------- over moto


def _package(capsys) -> None:
    code, _, err = run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err


def test_serverless_submit_runs_every_step_and_reuses_the_application(aws, capsys, monkeypatch):
    monkeypatch.setattr(pipeline, "STEPS", pipeline.STEPS[:3])
    _package(capsys)
    args = ["serverless", "submit", "--conf", EMR_CONF, "--build-id", BUILD]
    code, out, err = run_cli(capsys, *args, "--run-id", "2026-05-01")
    assert code == 0, err
    assert "(created)" in out and "run 2026-05-01: every step SUCCESS" in out
    sls = client("emr-serverless")
    (app,) = sls.list_applications()["applications"]
    assert app["name"] == "recsys" and app["releaseLabel"] == "emr-7.13.0"
    runs = sorted(
        sls.list_job_runs(applicationId=app["id"])["jobRuns"], key=lambda r: r["createdAt"]
    )
    assert [r["name"] for r in runs] == [f"{s.name} (2026-05-01)" for s in pipeline.STEPS]
    got = sls.get_job_run(applicationId=app["id"], jobRunId=runs[0]["id"])["jobRun"]
    driver = got["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == f"{emr_moto.CODE}/{BUILD}/jobs/ingest.py"
    assert (
        f"--archives {emr_moto.CODE}/{BUILD}/env.tar.gz#environment"
        in driver["sparkSubmitParameters"]
    )
    # the second run reuses the application
    code, out, err = run_cli(capsys, *args, "--run-id", "2026-05-02")
    assert code == 0, err
    assert f"application {app['id']} (reused)" in out
    assert len(sls.list_applications()["applications"]) == 1

    code, out, err = run_cli(capsys, "serverless", "status", "--conf", EMR_CONF, "--json")
    assert code == 0, err
    state = json.loads(out)
    assert state["run_id"] == "2026-05-02"
    assert [r["state"] for r in state["job_runs"]] == ["SUCCESS"] * 3
    code, out, _ = run_cli(
        capsys, "serverless", "logs", "--conf", EMR_CONF, "--run-id", "2026-05-01"
    )
    assert f"s3://my-recsys-bucket/emr-logs/serverless/applications/{app['id']}/jobs/" in out


def test_serverless_submit_stops_at_a_failed_job_run(aws, capsys, monkeypatch):
    import moto.emrserverless.models as moto_models

    monkeypatch.setattr(pipeline, "STEPS", pipeline.STEPS[:3])
    _package(capsys)
    monkeypatch.setattr(moto_models, "JOB_STATUS", "FAILED")  # every job run fails
    code, out, err = run_cli(
        capsys, "serverless", "submit", "--conf", EMR_CONF, "--build-id", BUILD, "--run-id", "r9"
    )
    assert code == 1
    assert f"step 1/3 {pipeline.STEPS[0].name} (r9) is FAILED" in err
    (app,) = client("emr-serverless").list_applications()["applications"]
    assert len(client("emr-serverless").list_job_runs(applicationId=app["id"])["jobRuns"]) == 1


def test_schedule_deploy_can_target_serverless(aws, capsys):
    _package(capsys)
    code, out, err = run_cli(
        capsys,
        "schedule",
        "deploy",
        "--conf",
        EMR_CONF,
        "--build-id",
        BUILD,
        "--set",
        "emr.schedule.target=serverless",
    )
    assert code == 0, err
    (app,) = client("emr-serverless").list_applications()["applications"]
    sfn = client("stepfunctions")
    arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    asl = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    tasks = [s for s in asl["States"].values() if s["Type"] == "Task"]
    runs = [s for s in tasks if s["Resource"].endswith("emr-serverless:startJobRun.sync")]
    assert len(runs) == len(pipeline.STEPS)
    assert {s["Parameters"]["ApplicationId"] for s in runs} == {app["id"]}
    assert not [s for s in tasks if "elasticmapreduce" in s["Resource"]]


def test_serverless_without_a_job_role_fails_before_any_aws_call(recorder, capsys):
    code, _, err = run_cli(
        capsys,
        "serverless",
        "submit",
        "--conf",
        EMR_CONF,
        "--set",
        "emr.serverless.execution_role_arn=null",
    )
    assert code == 2 and "emr.serverless.execution_role_arn: missing" in err
    assert recorder == []
