"""EMR definitions, validation and packaging, offline (no AWS endpoint involved)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from recsys import config
from recsys import steps as pipeline
from recsys.emr import checks, definitions, package, releases, shapes, templates
from tests.support import REPO

from .emr_helpers import (
    CAPACITY_FIELDS,
    capacities,
    endings,
    evaluate,
    expected_args,
    fake_steps,
    resolve_parameters,
    task_states,
)

EMR_CONF = REPO / "conf" / "emr.yaml"
CODE = "s3://my-recsys-bucket/code"


def emr_cfg(*overrides: str) -> config.Config:
    return config.load(str(EMR_CONF), list(overrides))


@pytest.fixture()
def layout():
    return definitions.layout_for(emr_cfg(), "abc1234", "emr.yaml")


# --------------------------------------------------------------------------- releases


def requirements_pin() -> str:
    text = (REPO / "requirements.txt").read_text()
    return re.search(r"^pyspark==(\S+)", text, re.M).group(1)


def test_pinned_spark_is_the_installed_pyspark_and_the_requirements_pin():
    import pyspark

    pinned = releases.pinned_spark_version()
    assert pinned == releases.major_minor_patch(pyspark.__version__)
    assert pinned == releases.major_minor_patch(requirements_pin())


def test_default_release_is_of_the_line_that_ships_the_pinned_spark():
    cfg = emr_cfg()
    pinned = releases.pinned_spark_version()
    assert releases.label_problem(cfg.emr.release_label, pinned) is None
    assert releases.SPARK_LINE == {"7": "3.5"}  # the whole fallback: EMR 7.x ships Spark 3.5


@pytest.mark.parametrize(
    "label, pinned, expected",
    [
        ("emr-7.99.0", "3.5.6", None),  # offline, any 7.x passes: its patch is EMR's to say
        ("emr-6.15.0", "3.5.6", "emr-6.15.0 is not in the EMR 7.x line"),
        ("7.13", "3.5.6", "'7.13' is not a release label"),
        ("emr-7.13.0", "3.4.1", "EMR 7.x ships Spark 3.5.x but pyspark is pinned to 3.4.1"),
    ],
)
def test_release_label_offline_check(label, pinned, expected):
    problem = releases.label_problem(label, pinned)
    if expected is None:
        assert problem is None
    else:
        assert expected in problem


# --------------------------------------------------------------------------- validation


def test_the_shipped_emr_config_is_valid_for_cluster_and_schedule():
    checks.validate(emr_cfg(), schedule=True)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["emr.code_prefix=null"], "emr.code_prefix: missing"),
        (["emr.code_prefix=s3:///code"], "emr.code_prefix: 's3:///code' is missing the bucket"),
        (["emr.log_uri=logs/"], "emr.log_uri: 'logs/' is not an s3:// URI"),
        (["warehouse.dir=warehouse"], "warehouse.dir: 'warehouse' is not an s3:// URI"),
        (["emr.core.instance_types=[r5-2xlarge]"], "emr.core.instance_types[0]: 'r5-2xlarge'"),
        (["emr.primary.instance_types=[xlarge]"], "emr.primary.instance_types[0]: 'xlarge'"),
        (["emr.task.instance_types=[M5.XLARGE]"], "emr.task.instance_types[0]"),
        (["emr.release_label=emr-6.15.0"], "emr.release_label: emr-6.15.0 is not in the EMR 7.x"),
        (["spark.master=local[2]"], "spark.master: 'local[2]' must be unset on EMR"),
        (["emr.core.count=0"], "emr.core.count: at least 1 core node"),
        (["emr.subnet_ids=[subnet-1]"], "emr.subnet_ids[0]: 'subnet-1'"),
        (
            ["emr.managed_scaling.min_units=20"],
            "emr.managed_scaling.min_units: 20 is above max_units 12",
        ),
    ],
)
def test_bad_cluster_config_names_the_key(overrides, expected):
    with pytest.raises(checks.EmrConfigError) as err:
        checks.validate(emr_cfg(*overrides))
    assert expected in str(err.value)
    assert len(err.value.problems) == 1, err.value.problems


def test_all_problems_are_reported_at_once():
    with pytest.raises(checks.EmrConfigError) as err:
        checks.validate(
            emr_cfg("emr.code_prefix=null", "emr.core.instance_types=[big]", "input.dir=raw")
        )
    keys = [p.split(":")[0] for p in err.value.problems]
    assert keys == ["emr.code_prefix", "input.dir", "emr.core.instance_types[0]"]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["emr.schedule.scheduler_role_arn=null"], "emr.schedule.scheduler_role_arn: missing"),
        (["emr.schedule.state_machine_role_arn=my-role"], "is not an IAM role ARN"),
        (["emr.schedule.cron=0 2 * * *"], "emr.schedule.cron: '0 2 * * *'"),
        (["emr.schedule.timezone=Mars/Base"], "emr.schedule.timezone: 'Mars/Base'"),
        (["emr.schedule.schedule_name=nightly run"], "emr.schedule.schedule_name"),
    ],
)
def test_bad_schedule_config_names_the_key(overrides, expected):
    cfg = emr_cfg(*overrides)
    checks.validate(cfg)  # the cluster side is fine ...
    with pytest.raises(checks.EmrConfigError) as err:
        checks.validate(cfg, schedule=True)  # ... the schedule is not
    assert expected in str(err.value)


@pytest.mark.parametrize(
    "itype, ok",
    [
        ("m5.xlarge", True),
        ("r6gd.16xlarge", True),
        ("c7gn.metal-48xl", True),
        ("i4i.large", True),
        ("m5", False),
        ("m5.huge", False),
        ("xlarge", False),
        ("m5.xlarge ", False),
    ],
)
def test_instance_type_format(itype, ok):
    assert bool(checks.INSTANCE_TYPE.match(itype)) is ok


# --------------------------------------------------------------------------- templates


def test_template_placeholders_fill_splice_drop_and_reject_unknown():
    template = {"A": "${a}", "B": "x-${b}", "${c}": None, "D": ["${d}", "keep"], "E": "${e}"}
    out = templates.render(template, {"a": {"n": 1}, "b": 7, "c": {"C": 3}, "d": None, "e": None})
    assert out == {"A": {"n": 1}, "B": "x-7", "C": 3, "D": ["keep"]}
    with pytest.raises(templates.TemplateError, match=r"unknown placeholder \$\{zz\}"):
        templates.render({"A": "${zz}"}, {}, "t.json")


# --------------------------------------------------------------------------- steps


def test_steps_are_the_pipelines_spark_submit_commands_in_order(layout):
    steps = definitions.pipeline_steps(layout, "2026-03-01", "TERMINATE_CLUSTER")
    root = f"{CODE}/abc1234"
    assert [s["Name"] for s in steps] == [f"{s.name} (2026-03-01)" for s in pipeline.STEPS]
    for step, got in zip(pipeline.STEPS, steps, strict=True):
        assert got["HadoopJarStep"]["Jar"] == "command-runner.jar"
        assert got["HadoopJarStep"]["Args"] == expected_args(step, root, "emr.yaml", "2026-03-01")
        assert got["ActionOnFailure"] == "TERMINATE_CLUSTER"
        assert (REPO / step.job_file).is_file()


def test_steps_follow_steps_as_other_branches_extend_it(monkeypatch, layout):
    monkeypatch.setattr(pipeline, "STEPS", fake_steps())
    steps = definitions.pipeline_steps(layout, "r1", "CANCEL_AND_WAIT", ("als.rank=8",))
    assert [s["Name"].split(" ")[0] for s in steps] == [s.name for s in pipeline.STEPS]
    assert steps[-1]["Name"].startswith("publish")  # the step that moves `latest` runs last
    args = steps[1]["HadoopJarStep"]["Args"]
    assert args[args.index("--py-files") + 2] == f"{CODE}/abc1234/jobs/train_als.py"
    assert args[-2:] == ["--set", "als.rank=8"]


def test_action_on_failure_stops_the_run():
    cfg = emr_cfg()
    assert definitions.action_on_failure(cfg, transient=True) == "TERMINATE_CLUSTER"
    assert definitions.action_on_failure(cfg, transient=False) == "CANCEL_AND_WAIT"
    forced = emr_cfg("emr.action_on_failure=CANCEL_AND_WAIT")
    assert definitions.action_on_failure(forced, transient=True) == "CANCEL_AND_WAIT"


# --------------------------------------------------------------------------- requests vs API


@pytest.mark.parametrize("mode", ["fleets", "groups"])
def test_run_job_flow_request_matches_the_emr_api(mode, layout):
    cfg = emr_cfg(f"emr.instance_mode={mode}", "emr.subnet_ids=[subnet-0abc1234]")
    request = definitions.transient_cluster_request(cfg, layout, "2026-03-01")
    shapes.check_request("emr", "RunJobFlow", request)
    assert request["ReleaseLabel"] == "emr-7.13.0"
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert request["ManagedScalingPolicy"]["ComputeLimits"]["MaximumCapacityUnits"] == 12
    if mode == "fleets":
        fleets = {f["InstanceFleetType"]: f for f in request["Instances"]["InstanceFleets"]}
        assert capacities(fleets["MASTER"]) == {"TargetOnDemandCapacity": 1}
        assert capacities(fleets["CORE"]) == {"TargetSpotCapacity": 2}  # no on-demand 0
        assert "SpotSpecification" in fleets["TASK"]["LaunchSpecifications"]
    else:
        groups = {g["InstanceRole"]: g for g in request["Instances"]["InstanceGroups"]}
        assert [groups[r]["Market"] for r in ("MASTER", "CORE", "TASK")] == [
            "ON_DEMAND",
            "SPOT",
            "SPOT",
        ]
    action = request["BootstrapActions"][0]["ScriptBootstrapAction"]
    assert action["Path"] == f"{CODE}/abc1234/bootstrap.sh"
    assert action["Args"] == ["/usr/bin/python3.11"]  # an interpreter check, no install


def test_each_step_matches_the_add_job_flow_steps_api(monkeypatch, layout):
    monkeypatch.setattr(pipeline, "STEPS", fake_steps())
    steps = definitions.pipeline_steps(layout, "2026-03-01", "CANCEL_AND_WAIT")
    shapes.check_request("emr", "AddJobFlowSteps", {"JobFlowId": "j-1", "Steps": steps})
    step_shape = shapes.shape_at("emr", "AddJobFlowSteps", "Steps", "member")
    for step in steps:
        shapes.check(step, step_shape, step["Name"])


def test_shape_check_catches_bad_enums_and_types(layout):
    step = definitions.pipeline_steps(layout, "r1", "CANCEL_AND_WAIT")[0]
    step["ActionOnFailure"] = "STOP_EVERYTHING"
    with pytest.raises(shapes.RequestShapeError, match="STOP_EVERYTHING"):
        shapes.check_request("emr", "AddJobFlowSteps", {"JobFlowId": "j-1", "Steps": [step]})
    with pytest.raises(shapes.RequestShapeError, match="Instances"):
        shapes.check_request("emr", "RunJobFlow", {"Name": "x", "Instances": "big"})


def test_spark_configuration_carries_python_region_and_overrides():
    cfg = emr_cfg("emr.spark_defaults={spark.executor.memory: 30g, spark.speculation: true}")
    configs = {c["Classification"]: c for c in definitions.configurations(cfg)}
    defaults = configs["spark-defaults"]["Properties"]
    assert defaults["spark.pyspark.python"] == "/usr/bin/python3.11"
    assert defaults["spark.executorEnv.AWS_REGION"] == "us-east-1"
    assert defaults["spark.executor.memory"] == "30g"
    assert defaults["spark.speculation"] == "true"
    assert all(isinstance(v, str) for c in configs.values() for v in c["Properties"].values())
    export = configs["spark-env"]["Configurations"][0]
    assert export["Properties"]["PYSPARK_PYTHON"] == "/usr/bin/python3.11"


# --------------------------------------------------------------------------- state machine


def _states(definition: dict) -> dict:
    return definition["States"]


def test_state_machine_runs_every_step_in_order_then_terminates(monkeypatch, layout):
    monkeypatch.setattr(pipeline, "STEPS", fake_steps())
    asl = definitions.state_machine_definition(emr_cfg(), layout)
    states = _states(asl)
    # every transition lands on a state
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in states, f"{name} -> {target}"
    # the happy path: create, every step in pipeline order, terminate
    path, name = [], "Create cluster"
    while True:
        path.append(name)
        if states[name].get("End"):
            break
        name = states[name].get("Next") or states[name]["Default"]  # a Choice: no re-run
    assert path == [
        "Create cluster",
        "Start from",
        *[f"Run {s.name}" for s in pipeline.STEPS],
        "Terminate cluster",
    ]
    # any failure after the cluster exists terminates it, then fails the execution
    for step in pipeline.STEPS:
        catch = states[f"Run {step.name}"]["Catch"]
        assert catch == [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.error",
                "Next": "Terminate after failure",
            }
        ]
    assert states["Terminate after failure"]["Next"] == "Pipeline failed"
    assert states["Pipeline failed"]["Type"] == "Fail"
    assert states["Create cluster"]["Catch"][0]["Next"] == "Cluster failed"
    assert "elasticmapreduce:terminateCluster.sync" in states["Terminate after failure"]["Resource"]


def test_state_machine_steps_resolve_to_the_spark_submit_commands(monkeypatch, layout):
    monkeypatch.setattr(pipeline, "STEPS", fake_steps())
    states = _states(definitions.state_machine_definition(emr_cfg(), layout))
    data = {"run_id": "2026-04-05", "cluster": {"ClusterId": "j-XYZ"}}
    step_shape = shapes.shape_at("emr", "AddJobFlowSteps", "Steps", "member")
    for step in pipeline.STEPS:
        state = states[f"Run {step.name}"]
        assert state["Resource"] == "arn:aws:states:::elasticmapreduce:addStep.sync"
        params = resolve_parameters(state["Parameters"], data)
        assert params["ClusterId"] == "j-XYZ"
        assert params["Step"]["Name"] == f"{step.name} (2026-04-05)"
        assert params["Step"]["HadoopJarStep"]["Args"] == expected_args(
            step, f"{CODE}/abc1234", "emr.yaml", "2026-04-05"
        )
        shapes.check(params["Step"], step_shape, step.name)


def test_state_machine_cluster_is_a_valid_request_named_by_run_id(layout):
    cfg = emr_cfg()
    states = _states(definitions.state_machine_definition(cfg, layout))
    cluster = resolve_parameters(states["Create cluster"]["Parameters"], {"run_id": "2026-04-05"})
    shapes.check_request("emr", "RunJobFlow", cluster)
    assert cluster["Name"] == "recsys-2026-04-05"
    assert {"Key": "recsys:run-id", "Value": "2026-04-05"} in cluster["Tags"]
    assert "Steps" not in cluster  # steps come one state at a time
    assert cluster["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True
    assert cluster["AutoTerminationPolicy"] == {"IdleTimeout": cfg.emr.idle_timeout_seconds}


@pytest.mark.parametrize(
    "execution_input, start_time, run_id",
    [
        ({"scheduled_time": "2026-04-05T02:00:00Z"}, "2026-04-05T02:00:07.1Z", "2026-04-05"),
        ({}, "2026-04-06T10:11:12.345Z", "2026-04-06"),
        ({"run_id": "backfill-1"}, "2026-04-06T10:11:12.345Z", "backfill-1"),
    ],
)
def test_run_id_of_a_scheduled_run_is_its_date(layout, execution_input, start_time, run_id):
    states = _states(definitions.state_machine_definition(emr_cfg(), layout))
    choice = states["Resolve run id"]
    assert choice["Type"] == "Choice"
    target = next(
        (c["Next"] for c in choice["Choices"] if c["Variable"][2:] in execution_input),
        choice["Default"],
    )
    context = {"Execution": {"StartTime": start_time}}
    resolved = resolve_parameters(states[target]["Parameters"], execution_input, context)
    assert resolved == {"run_id": run_id}
    assert states[target]["Next"] == "Check running"  # the guard, then the cluster


def test_schedule_request_matches_the_scheduler_api():
    cfg = emr_cfg()
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:recsys-nightly"
    request = definitions.schedule_request(cfg, arn)
    shapes.check_request("scheduler", "CreateSchedule", request)
    assert request["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert request["Target"]["Arn"] == arn
    assert json.loads(request["Target"]["Input"]) == {
        "scheduled_time": "<aws.scheduler.scheduled-time>"
    }


def test_asl_literals_escape_what_intrinsics_reserve():
    text = "a'b{c}d\\e"
    assert evaluate(definitions.asl_literal(text), {}) == text


# --------------------------------------------------------------------------- AWS rules
# Rules of the real API that moto does not check; each test walks the rendered request.

FLEET_CASES = [
    pytest.param([], id="spot-core-task"),
    pytest.param(["emr.core.market=ON_DEMAND", "emr.task.market=ON_DEMAND"], id="on-demand"),
    pytest.param(["emr.primary.market=SPOT"], id="spot-primary"),
    pytest.param(["emr.task.count=0", "emr.managed_scaling.max_core_units=12"], id="no-task"),
    pytest.param(["emr.task.count=3", "emr.managed_scaling.enabled=false"], id="no-scaling"),
]


def fleets_of(*overrides: str) -> list[dict]:
    cfg = emr_cfg("emr.instance_mode=fleets", *overrides)
    checks.validate(cfg, schedule=True)
    layout = definitions.layout_for(cfg, "abc1234")
    request = definitions.transient_cluster_request(cfg, layout, "2026-03-01")
    shapes.check_request("emr", "RunJobFlow", request)
    return request["Instances"]["InstanceFleets"]


@pytest.mark.parametrize("overrides", FLEET_CASES)
def test_no_fleet_sends_a_capacity_of_zero(overrides):
    """InstanceFleetConfig: at least one capacity above 0; none is sent at 0."""
    for fleet in fleets_of(*overrides):
        sent = capacities(fleet)
        assert sent and all(v > 0 for v in sent.values()), (fleet["Name"], sent)


@pytest.mark.parametrize("market", ["ON_DEMAND", "SPOT"])
def test_primary_fleet_sends_exactly_one_capacity_of_one(market):
    """InstanceFleetConfig: a master fleet names only one capacity field, of value 1."""
    (primary,) = [f for f in fleets_of(f"emr.primary.market={market}") if f["Name"] == "primary"]
    field = "TargetSpotCapacity" if market == "SPOT" else "TargetOnDemandCapacity"
    assert primary["InstanceFleetType"] == "MASTER"
    assert capacities(primary) == {field: 1}


@pytest.mark.parametrize(
    "mode, overrides, task",
    [
        ("fleets", [], {"TargetSpotCapacity": 1}),
        (
            "fleets",
            ["emr.task.count=4", "emr.task.market=ON_DEMAND"],
            {"TargetOnDemandCapacity": 4},
        ),
        ("fleets", ["emr.task.count=0", "emr.managed_scaling.max_core_units=12"], None),
        ("fleets", ["emr.task.count=0"], None),  # the checks refuse it; still never a 0 fleet
        ("fleets", ["emr.task.count=0", "emr.managed_scaling.enabled=false"], None),
        ("groups", ["emr.task.count=0"], 0),  # groups: scaling adds to a 0-instance group
        ("groups", ["emr.task.count=0", "emr.managed_scaling.enabled=false"], None),
    ],
)
def test_a_task_fleet_is_sent_only_with_capacity(mode, overrides, task):
    cfg = emr_cfg(f"emr.instance_mode={mode}", *overrides)
    instances = definitions.instances(cfg, keep_alive=False)
    if mode == "fleets":
        got = [
            capacities(f) for f in instances["InstanceFleets"] if f["InstanceFleetType"] == "TASK"
        ]
    else:
        got = [
            g["InstanceCount"] for g in instances["InstanceGroups"] if g["InstanceRole"] == "TASK"
        ]
    assert got == ([] if task is None else [task])


@pytest.mark.parametrize("mode, count, refused", [("fleets", 3, True), ("groups", 3, False)])
def test_primary_count_other_than_one_is_refused_with_fleets(mode, count, refused):
    cfg = emr_cfg(f"emr.instance_mode={mode}", f"emr.primary.count={count}")
    if not refused:
        checks.validate(cfg)
        return
    with pytest.raises(checks.EmrConfigError) as err:
        checks.validate(cfg)
    assert err.value.problems == [
        "emr.primary.count: 3 must be 1 with instance fleets (a master fleet takes one capacity "
        "field, of value 1); use instance_mode groups for 3 (HA)"
    ]


def only_problem(cfg, refused: bool) -> str | None:
    """The one problem ``checks.validate`` names when it must refuse ``cfg``; None when it
    must (and does) accept it."""
    if not refused:
        checks.validate(cfg)
        return None
    with pytest.raises(checks.EmrConfigError) as err:
        checks.validate(cfg)
    (problem,) = err.value.problems
    return problem


@pytest.mark.parametrize(
    "overrides, refused",
    [
        (["emr.instance_mode=fleets", "emr.task.count=0"], True),
        (
            [
                "emr.instance_mode=fleets",
                "emr.task.count=0",
                "emr.managed_scaling.max_core_units=12",
            ],
            False,
        ),
        (["emr.instance_mode=fleets", "emr.task.count=1"], False),
        (["emr.instance_mode=groups", "emr.task.count=0"], False),
    ],
)
def test_task_scaling_without_a_task_fleet_is_refused(overrides, refused):
    """Fleets: managed scaling needs a task fleet to put capacity on, and none is sent at 0."""
    problem = only_problem(emr_cfg(*overrides), refused)
    if not refused:
        return
    assert problem.startswith("emr.task.count: 0 with instance fleets")
    assert "8 unit(s) on task nodes" in problem
    assert "set emr.task.count to 1 or more" in problem
    assert "emr.managed_scaling.max_core_units to max_units (core-only scaling)" in problem


@pytest.mark.parametrize(
    "mode, market, max_core, max_on_demand, refused",
    [
        ("groups", "ON_DEMAND", 4, 3, True),
        ("groups", "ON_DEMAND", 3, 3, False),
        ("groups", "SPOT", 4, 3, False),
        ("fleets", "ON_DEMAND", 4, 3, False),
    ],
)
def test_on_demand_core_groups_keep_max_core_within_on_demand(
    mode, market, max_core, max_on_demand, refused
):
    """RunJobFlow: on-demand core groups need max_core_units <= max_on_demand_units."""
    cfg = emr_cfg(
        f"emr.instance_mode={mode}",
        f"emr.core.market={market}",
        f"emr.managed_scaling.max_core_units={max_core}",
        f"emr.managed_scaling.max_on_demand_units={max_on_demand}",
    )
    problem = only_problem(cfg, refused)
    if not refused:
        return
    assert problem.startswith(
        "emr.managed_scaling.max_core_units: 4 is above emr.managed_scaling.max_on_demand_units 3"
    )


def machine(*overrides: str) -> dict:
    cfg = emr_cfg(*overrides)
    checks.validate(cfg, schedule=True)
    return definitions.state_machine_definition(cfg, definitions.layout_for(cfg, "abc1234"))


@pytest.mark.parametrize(
    "overrides, expected", [([], 28800), (["emr.schedule.timeout_seconds=14400"], 14400)]
)
def test_state_machine_has_an_overall_timeout_from_config(overrides, expected):
    assert machine(*overrides)["TimeoutSeconds"] == expected


@pytest.mark.parametrize("mode", ["fleets", "groups"])
def test_every_task_state_has_its_timeout(mode):
    asl = machine(
        f"emr.instance_mode={mode}",
        "emr.schedule.step_timeout_seconds=5400",
        "emr.schedule.cluster_timeout_seconds=2400",
    )
    tasks = task_states(asl)
    # the guard, create, a re-run's copy, the steps, two terminates
    assert len(tasks) == len(pipeline.STEPS) + 5
    for name, state in tasks.items():
        step = state["Resource"].endswith(":addStep.sync")
        expected = definitions.GUARD_TIMEOUT_SECONDS if name == "Check running" else 2400
        assert state["TimeoutSeconds"] == (5400 if step else expected), name


def test_cluster_creation_retries_with_backoff():
    (retry,) = machine()["States"]["Create cluster"]["Retry"]
    assert set(retry["ErrorEquals"]) == {"EMR.AmazonElasticMapReduceException", "States.TaskFailed"}
    assert retry["IntervalSeconds"] > 0 and retry["MaxAttempts"] >= 1
    assert retry["BackoffRate"] > 1
    # a timed-out create may leave its cluster starting: never start a second one
    assert not {"States.ALL", "States.Timeout"} & set(retry["ErrorEquals"])


@pytest.mark.parametrize("mode", ["fleets", "groups"])
def test_every_task_state_catches_and_a_failure_ends_in_a_fail_state(mode):
    asl = machine(f"emr.instance_mode={mode}")
    states = asl["States"]
    for name, state in task_states(asl).items():
        (catch,) = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"], name
        ends = endings(asl, catch["Next"])
        assert ends and all(states[e]["Type"] == "Fail" for e in ends), (name, ends)
        if name not in ("Check running", "Create cluster"):  # a failure terminates the cluster
            assert catch["Next"] in ("Terminate after failure", "Terminate failed"), name
    for name in ("Terminate cluster", "Terminate after failure"):
        (retry,) = states[name]["Retry"]
        assert retry["MaxAttempts"] >= 2 and retry["BackoffRate"] > 1, name
        assert states[name]["Catch"][0]["Next"] == "Terminate failed"
    assert states["Terminate failed"] == {
        "Type": "Fail",
        "Error": "RecsysTerminateFailed",
        "CausePath": "$.terminate_error.Cause",
    }


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["emr.schedule.step_timeout_seconds=28800"], "emr.schedule.step_timeout_seconds: 28800"),
        (
            ["emr.schedule.cluster_timeout_seconds=30000"],
            "emr.schedule.cluster_timeout_seconds: 30000",
        ),
        (["emr.schedule.cluster_timeout_seconds=1500"], "leaves no time to start a cluster"),
        (
            ["emr.schedule.timeout_seconds=5"],
            "emr.schedule.timeout_seconds: 5 is below the minimum",
        ),
    ],
)
def test_timeouts_that_do_not_nest_are_refused(overrides, expected):
    with pytest.raises(config.ConfigError) as err:
        checks.validate(emr_cfg(*overrides), schedule=True)
    assert expected in str(err.value)


@pytest.mark.parametrize("mode", ["fleets", "groups"])
def test_render_output_follows_the_aws_rules(tmp_path, capsys, mode):
    from recsys import cli

    out = tmp_path / "emr"
    args = ["emr", "render", "--conf", str(EMR_CONF), "--build-id", "b1", "--out", str(out)]
    assert cli.main([*args, "--set", f"emr.instance_mode={mode}"]) == 0, capsys.readouterr().err
    request = json.loads((out / "run-job-flow.json").read_text())
    for fleet in request["Instances"].get("InstanceFleets", []):
        assert all(fleet.get(k, 1) > 0 for k in CAPACITY_FIELDS), fleet["Name"]
        assert capacities(fleet), fleet["Name"]
    asl = json.loads((out / "state-machine.asl.json").read_text())
    assert asl["TimeoutSeconds"] > 0
    assert all(s["TimeoutSeconds"] > 0 for s in task_states(asl).values())
    assert asl["States"]["Create cluster"]["Retry"]


# --------------------------------------------------------------------------- packaging
# (building the environment and what the bootstrap does: tests/unit/test_emr_package.py)


def test_git_version_is_the_short_sha_and_marks_dirty(tmp_path):
    repo = tmp_path / "repo"
    (repo / "recsys").mkdir(parents=True)
    (repo / "recsys" / "a.py").write_text("x = 1\n")

    def git(*args):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert package.git_version(repo) == sha
    (repo / "notes.txt").write_text("not packaged\n")
    assert package.git_version(repo) == sha
    (repo / "recsys" / "a.py").write_text("x = 2\n")
    assert package.git_version(repo) == f"{sha}-dirty"
    with pytest.raises(package.PackageError, match="--build-id"):
        package.git_version(tmp_path / "nowhere")


def test_partial_node_override_keeps_the_roles_defaults():
    cfg = config.from_dict({"emr": {"core": {"count": 5}, "task": {"ebs_gb": 0}}})
    assert cfg.emr.core.count == 5
    assert cfg.emr.core.market == "SPOT" and cfg.emr.core.instance_types[0] == "r5.2xlarge"
    assert cfg.emr.task.market == "SPOT" and cfg.emr.task.count == 1  # a 1-unit task fleet
    assert cfg.emr.primary.market == "ON_DEMAND" and cfg.emr.primary.count == 1
