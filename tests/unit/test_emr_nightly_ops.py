"""The nightly's operations: an alert on a failed night, one execution at a time, a re-run of
one date from a named step under its own run id. ASL offline, AWS calls over moto's server."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from moto.events.models import EventPattern

from recsys import config
from recsys import steps as pipeline
from recsys.emr import alerts, definitions, iam, shapes
from tests.support import REPO

from . import emr_moto
from .emr_helpers import evaluate, resolve_parameters
from .emr_moto import BUCKET, client, run_cli

moto_endpoint, aws = emr_moto.moto_endpoint, emr_moto.aws
EMR_CONF = str(REPO / "conf" / "emr.yaml")
TOPIC = "arn:aws:sns:us-east-1:123456789012:recsys-alerts"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:recsys-nightly"
BUILD = "build-n"


def emr_cfg(*overrides: str) -> config.Config:
    return config.load(EMR_CONF, list(overrides))


def machine(*overrides: str) -> dict:
    cfg = emr_cfg(*overrides)
    return definitions.state_machine_definition(cfg, definitions.layout_for(cfg, "v1"))


def status_event(status: str, machine_arn: str = MACHINE) -> dict:
    """A Step Functions status-change event as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "e-1",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-05-02T04:00:00Z",
        "region": "us-east-1",
        "resources": [f"{machine_arn}:x"],
        "detail": {
            "executionArn": f"{machine_arn.replace('stateMachine', 'execution')}:x",
            "stateMachineArn": machine_arn,
            "name": "x",
            "status": status,
        },
    }


# --------------------------------------------------------------------------- alerts


def test_alert_rule_matches_a_failed_night_of_this_machine_only():
    rule = alerts.rule_request(emr_cfg(f"emr.schedule.alert_topic_arn={TOPIC}"), MACHINE)
    shapes.check_request("events", "PutRule", rule)
    pattern = EventPattern.load(rule["EventPattern"])  # moto's EventBridge matcher
    for status in ("FAILED", "TIMED_OUT", "ABORTED"):
        assert pattern.matches_event(status_event(status)), status
    for status in ("SUCCEEDED", "RUNNING"):
        assert not pattern.matches_event(status_event(status)), status
    other = MACHINE.replace("recsys-nightly", "someone-else")
    assert not pattern.matches_event(status_event("FAILED", other))


def test_alert_targets_the_configured_topic_with_a_readable_message():
    cfg = emr_cfg(f"emr.schedule.alert_topic_arn={TOPIC}")
    request = alerts.targets_request(cfg)
    shapes.check_request("events", "PutTargets", request)
    (target,) = request["Targets"]
    assert target["Arn"] == TOPIC
    transformer = target["InputTransformer"]
    for name, path in transformer["InputPathsMap"].items():
        assert f"<{name}>" in transformer["InputTemplate"]
        assert path.startswith("$.detail.")
    topic_policy = iam.rendered(cfg)["alerts-topic.json"]["Statement"][0]
    assert topic_policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert topic_policy["Resource"] == [TOPIC]


def test_bad_alert_topic_names_the_key():
    from recsys.emr import checks

    with pytest.raises(checks.EmrConfigError, match="emr.schedule.alert_topic_arn"):
        checks.validate(emr_cfg("emr.schedule.alert_topic_arn=recsys-alerts"), schedule=True)


def test_schedule_deploy_creates_the_alert_rule_and_remove_deletes_it(aws, capsys):
    topic = client("sns").create_topic(Name="recsys-alerts")["TopicArn"]
    sets = ["--set", f"emr.schedule.alert_topic_arn={topic}"]
    assert run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD)[0] == 0
    code, out, err = run_cli(
        capsys, "schedule", "deploy", "--conf", EMR_CONF, "--build-id", BUILD, *sets
    )
    assert code == 0, err
    events = client("events")
    rule = events.describe_rule(Name="recsys-nightly-failed")
    machine_arn = client("stepfunctions").list_state_machines()["stateMachines"][0][
        "stateMachineArn"
    ]
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["stateMachineArn"] == [machine_arn]
    assert set(pattern["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    targets = events.list_targets_by_rule(Rule="recsys-nightly-failed")["Targets"]
    assert [t["Arn"] for t in targets] == [topic]
    assert f"alerts: rule {rule['Arn']} -> {topic}" in out

    code, out, _ = run_cli(capsys, "schedule", "show", "--conf", EMR_CONF, *sets)
    assert f"alerts {rule['Arn']} (ENABLED) -> {topic}" in out
    code, out, _ = run_cli(capsys, "schedule", "remove", "--conf", EMR_CONF, *sets)
    assert "alerts recsys-nightly-failed: removed" in out
    assert events.list_rules(NamePrefix="recsys-nightly")["Rules"] == []


# --------------------------------------------------------------------------- the guard


@pytest.mark.parametrize("running, target", [(1, "Create cluster"), (2, "Already running")])
def test_guard_lets_only_one_execution_create_a_cluster(running, target):
    states = machine()["States"]
    guard = states["Check running"]
    assert guard["Resource"] == "arn:aws:states:::aws-sdk:sfn:listExecutions"
    assert guard["Parameters"] == {
        "StateMachineArn.$": "$$.StateMachine.Id",
        "StatusFilter": "RUNNING",
    }
    listed = {"Executions": [{"Name": f"e{i}"} for i in range(running)]}
    count = evaluate(guard["ResultSelector"]["count.$"], listed)
    assert count == running
    (choice,) = states[guard["Next"]]["Choices"]
    assert choice["Variable"] == "$.running.count" and choice["NumericGreaterThan"] == 1
    chosen = (
        choice["Next"] if count > choice["NumericGreaterThan"] else states["Only run"]["Default"]
    )
    assert chosen == target
    if target == "Already running":
        assert states[target]["Type"] == "Fail"  # before any cluster exists: nothing to stop


# --------------------------------------------------------------------------- re-run


def test_a_rerun_copies_its_source_run_and_starts_at_the_named_step():
    states = machine()["States"]
    execution_input = {"run_id": "2026-05-01-a2", "from_step": "hybrid", "source_run": "2026-05-01"}
    resolve = states["Resolve run id"]
    assert resolve["Choices"][0] == {
        "Variable": "$.from_step",
        "IsPresent": True,
        "Next": "Given re-run",
    }
    data = resolve_parameters(states["Given re-run"]["Parameters"], execution_input)
    assert data == execution_input
    data["cluster"] = {"ClusterId": "j-1"}
    start = states[states["Create cluster"]["Next"]]
    assert start["Choices"][0]["Next"] == "Copy source run"
    copy = states["Copy source run"]
    step = resolve_parameters(copy["Parameters"], data)["Step"]
    runs = "s3://my-recsys-bucket/warehouse/runs"
    assert step["HadoopJarStep"]["Args"] == [
        "s3-dist-cp",
        "--src",
        f"{runs}/2026-05-01",
        "--dest",
        f"{runs}/2026-05-01-a2",
    ]
    shapes.check(step, shapes.shape_at("emr", "AddJobFlowSteps", "Steps", "member"), "copy")
    assert copy["Catch"][0]["Next"] == "Terminate after failure"
    go = states[copy["Next"]]
    chosen = next(c["Next"] for c in go["Choices"] if c["StringEquals"] == data["from_step"])
    assert chosen == "Run hybrid"
    assert [c["StringEquals"] for c in go["Choices"]] == [s.name for s in pipeline.STEPS]
    unknown = states[go["Default"]]
    assert unknown["Next"] == "Terminate after failure"
    # the re-run's steps write under its own run id, never the source's
    args = resolve_parameters(states["Run hybrid"]["Parameters"], data)["Step"]["HadoopJarStep"]
    assert args["Args"][args["Args"].index("--run-id") + 1] == "2026-05-01-a2"


def _deploy(capsys) -> str:
    assert run_cli(capsys, "package", "--conf", EMR_CONF, "--build-id", BUILD)[0] == 0
    code, _, err = run_cli(capsys, "schedule", "deploy", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err
    return client("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"]


def _executions(arn: str) -> dict[str, dict]:
    sfn = client("stepfunctions")
    out = {}
    for e in sfn.list_executions(stateMachineArn=arn)["executions"]:
        out[e["name"]] = {
            "status": e["status"],
            "input": json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]),
        }
    return out


def test_schedule_run_names_attempts_and_refuses_a_second_execution(aws, capsys):
    arn = _deploy(capsys)
    sfn = client("stepfunctions")
    base = ["schedule", "run", "--conf", EMR_CONF]
    # a date never run: its own id
    code, out, err = run_cli(capsys, *base, "--date", "2026-05-03")
    assert code == 0, err
    assert _executions(arn)["2026-05-03"]["input"] == {"run_id": "2026-05-03"}
    # one at a time: moto leaves it RUNNING
    code, _, err = run_cli(capsys, *base, "--date", "2026-05-04")
    assert code == 1 and "2026-05-03 still RUNNING" in err
    for e in sfn.list_executions(stateMachineArn=arn)["executions"]:
        sfn.stop_execution(executionArn=e["executionArn"])
    # a date whose run folder exists (the scheduled night): re-run from a step as attempt 2
    client("s3").put_object(
        Bucket=BUCKET, Key="warehouse/runs/2026-05-01/manifest.json", Body=b"{}"
    )
    code, out, err = run_cli(capsys, *base, "--date", "2026-05-01", "--from-step", "hybrid")
    assert code == 0, err
    assert "started run 2026-05-01-a2 from step hybrid of run 2026-05-01" in out
    assert _executions(arn)["2026-05-01-a2"]["input"] == {
        "run_id": "2026-05-01-a2",
        "from_step": "hybrid",
        "source_run": "2026-05-01",
    }
    for e in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
        sfn.stop_execution(executionArn=e["executionArn"])
    # the whole date again: attempt 3, never the published 2026-05-01 itself
    code, out, err = run_cli(capsys, *base, "--date", "2026-05-01")
    assert code == 0, err
    assert "started run 2026-05-01-a3:" in out
    assert "2026-05-01" not in _executions(arn)  # no execution ever wrote the source run id


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--date", "2026-05-01", "--from-step", "nope"], "--from-step: 'nope' is not a pipeline"),
        (["--date", "yesterday"], "--date: 'yesterday' is not a date"),
        (["--date", "2026-05-09", "--from-step", "hybrid"], "run 2026-05-09 has no folder"),
    ],
)
def test_schedule_run_refuses_bad_requests(aws, capsys, args, expected):
    _deploy(capsys)
    code, _, err = run_cli(capsys, "schedule", "run", "--conf", EMR_CONF, *args)
    assert code == 1 and expected in err
    arn = client("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"]
    assert client("stepfunctions").list_executions(stateMachineArn=arn)["executions"] == []


def test_schedule_run_needs_a_deployed_machine(aws, capsys):
    code, _, err = run_cli(capsys, "schedule", "run", "--conf", EMR_CONF, "--date", "2026-05-01")
    assert code == 1 and "is not deployed" in err


# --------------------------------------------------------------------------- validation


def test_deploy_reports_validation_not_reachable_on_moto(aws, capsys):
    _deploy(capsys)
    code, out, err = run_cli(capsys, "schedule", "deploy", "--conf", EMR_CONF, "--build-id", BUILD)
    assert code == 0, err
    assert "ValidateStateMachineDefinition: not reachable" in out


class _Validator(http.server.BaseHTTPRequestHandler):
    """Answers ValidateStateMachineDefinition as the API reference documents a FAIL."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps(
            {
                "result": "FAIL",
                "diagnostics": [
                    {
                        "severity": "ERROR",
                        "code": "SCHEMA_VALIDATION_FAILED",
                        "message": "The field 'X' is not supported",
                        "location": "/States/Create cluster/Parameters",
                    }
                ],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_failed_validation_stops_the_deploy_with_the_diagnostics(monkeypatch):
    import boto3

    from recsys.emr import aws as emr_aws

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Validator)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sfn = boto3.client(
            "stepfunctions",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        with pytest.raises(emr_aws.EmrError) as err:
            emr_aws.validate_definition(sfn, json.dumps(machine()))
    finally:
        server.shutdown()
        server.server_close()
    message = str(err.value)
    assert "SCHEMA_VALIDATION_FAILED at /States/Create cluster/Parameters" in message
    assert "The field 'X' is not supported" in message
