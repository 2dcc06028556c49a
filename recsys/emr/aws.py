"""The AWS side: submit the pipeline, read its state and logs, deploy the nightly schedule.

Clients come from ``boto3.client(service, region_name=cfg.emr.region)`` only, so the
standard ``AWS_ENDPOINT_URL`` (and credentials) settings decide where requests go.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from recsys.config import Config
from recsys.emr import alerts, shapes
from recsys.emr import definitions as defs
from recsys.emr.package import split_s3
from recsys.emr.reachable import why_unreachable


class EmrError(RuntimeError):
    """An EMR operation cannot go on; the message says why and what to do."""


def client(cfg: Config, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=cfg.emr.region)


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in {
        "404",
        "NoSuchKey",
        "NotFound",
        "ResourceNotFoundException",
        "StateMachineDoesNotExist",
    }


def require_package(cfg: Config, layout: defs.CodeLayout) -> None:
    """Fail unless ``layout``'s version was packaged (its manifest is on S3)."""
    bucket, key = split_s3(layout.manifest_uri)
    try:
        client(cfg, "s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _not_found(exc):
            raise EmrError(
                f"code version {layout.version} is not packaged ({layout.manifest_uri} not "
                f"found): run `recsys emr package` first, or pass --build-id"
            ) from None
        raise


def ensure_security_configuration(cfg: Config, name: str, doc: dict[str, Any]) -> str:
    """Create the security configuration ``name`` unless it exists with the same document.
    EMR cannot update one in place: a different document under the name is an error."""
    emr = client(cfg, "emr")
    try:
        found = emr.describe_security_configuration(Name=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ("InvalidRequestException", "ResourceNotFoundException", "NotFound"):
            raise
    else:
        if json.loads(found["SecurityConfiguration"]) == doc:
            return "already there"
        raise EmrError(
            f"security configuration {name} exists with another document and cannot be "
            "updated: set emr.encryption.security_configuration to a new name and --create it"
        )
    request = {"Name": name, "SecurityConfiguration": json.dumps(doc)}
    shapes.check_request("emr", "CreateSecurityConfiguration", request)
    emr.create_security_configuration(**request)
    return "created"


# --------------------------------------------------------------------------- submit


ROLES = ("primary", "core", "task")


def preflight(cfg: Config, cluster_id: str | None = None) -> list[str]:
    """What the offline checks cannot tell, asked of EMR before anything is created: the
    release's exact Spark (``DescribeReleaseLabel``) and, for a new cluster, that it supports
    each configured instance type (``ListSupportedInstanceTypes``). Each check falls back, and
    its note says so, where the call is unavailable. Raise ``EmrConfigError`` naming the keys;
    return the notes."""
    from recsys.emr import releases
    from recsys.emr.checks import EmrConfigError

    emr = client(cfg, "emr")
    key, label = "emr.release_label", cfg.emr.release_label
    if cluster_id is not None:
        key = f"--cluster-id {cluster_id}"
        label = emr.describe_cluster(ClusterId=cluster_id)["Cluster"].get("ReleaseLabel", "?")
    spark = releases.check_spark(emr, label, releases.pinned_spark_version())
    notes = [spark.note()]
    problems = [f"{key}: {spark.problem}"] if spark.problem else []
    if cluster_id is None:
        roles = {f"emr.{r}.instance_types": getattr(cfg.emr, r).instance_types for r in ROLES}
        types = releases.check_instance_types(emr, label, cfg.emr.region, roles)
        notes.append(types.note())
        problems += list(types.problems)
    if problems:
        raise EmrConfigError(problems)
    return notes


@dataclass
class Submission:
    cluster_id: str
    transient: bool
    step_ids: list[str] = field(default_factory=list)


def submit(
    cfg: Config,
    layout: defs.CodeLayout,
    run_id: str,
    cluster_id: str | None = None,
    overrides: tuple[str, ...] = (),
) -> Submission:
    """A transient cluster running every step, or the steps added to ``cluster_id``."""
    emr = client(cfg, "emr")
    if cluster_id is None:
        request = defs.transient_cluster_request(cfg, layout, run_id, overrides)
        shapes.check_request("emr", "RunJobFlow", request)
        response = emr.run_job_flow(**request)
        cluster = response["JobFlowId"]
        steps = emr.list_steps(ClusterId=cluster)["Steps"]
        return Submission(cluster, True, [s["Id"] for s in reversed(steps)])
    state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
    if state not in ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"):
        raise EmrError(f"cluster {cluster_id} is {state}; steps can only go to a live cluster")
    steps = defs.pipeline_steps(
        layout, run_id, defs.action_on_failure(cfg, transient=False), overrides, cfg.emr.python
    )
    request = {"JobFlowId": cluster_id, "Steps": steps}
    shapes.check_request("emr", "AddJobFlowSteps", request)
    response = emr.add_job_flow_steps(**request)
    return Submission(cluster_id, False, list(response["StepIds"]))


def follow_commands(cfg: Config, cluster_id: str) -> list[str]:
    return [
        f"recsys emr wait --cluster-id {cluster_id}     # follow it to the end (boto3 waiters)",
        f"recsys emr status --cluster-id {cluster_id}",
        f"recsys emr logs --cluster-id {cluster_id}",
    ]


# --------------------------------------------------------------------------- status


ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING")
FINISHED_STATES = ("TERMINATED", "TERMINATED_WITH_ERRORS")
FINISHED_LOOKBACK = dt.timedelta(days=14)


def latest_cluster_id(cfg: Config) -> str:
    """The newest live cluster named ``<emr.cluster_name>-*``, else the newest one that
    finished in the last 14 days. ``ListClusters`` is asked with ``ClusterStates`` (and
    ``CreatedAfter`` for finished ones), so an account's history is never paged through."""
    emr = client(cfg, "emr")
    prefix = cfg.emr.cluster_name + "-"
    since = dt.datetime.now(dt.UTC) - FINISHED_LOOKBACK
    for filters in (
        {"ClusterStates": list(ACTIVE_STATES)},
        {"ClusterStates": list(FINISHED_STATES), "CreatedAfter": since},
    ):
        found = [
            c
            for page in emr.get_paginator("list_clusters").paginate(**filters)
            for c in page["Clusters"]
            if c["Name"].startswith(prefix)
        ]
        if found:
            return max(found, key=lambda c: c["Status"]["Timeline"]["CreationDateTime"])["Id"]
    raise EmrError(
        f"no cluster named {prefix}* is live or finished in the last "
        f"{FINISHED_LOOKBACK.days} days; pass --cluster-id"
    )


def status(cfg: Config, cluster_id: str) -> dict[str, Any]:
    """The cluster's state and each step's, in submission order."""
    emr = client(cfg, "emr")
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    steps: list[dict[str, Any]] = []
    for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id):
        steps += page["Steps"]
    steps.reverse()  # ListSteps returns the newest first
    return {
        "cluster_id": cluster_id,
        "name": cluster["Name"],
        "state": cluster["Status"]["State"],
        "reason": cluster["Status"].get("StateChangeReason", {}).get("Message", ""),
        "log_uri": cluster.get("LogUri"),
        "steps": [
            {
                "id": s["Id"],
                "name": s["Name"],
                "state": s["Status"]["State"],
                "reason": (s["Status"].get("FailureDetails") or {}).get("Reason", ""),
                "args": s["Config"].get("Args", []),
            }
            for s in steps
        ],
    }


def log_locations(cfg: Config, cluster_id: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Where EMR writes this cluster's logs (pushed to S3 every few minutes)."""
    base = f"{str(cfg.emr.log_uri).rstrip('/')}/{cluster_id}"
    return {
        "cluster": f"{base}/",
        "bootstrap": f"{base}/node/<instance id>/bootstrap-actions/",
        "containers": f"{base}/containers/",
        "steps": [
            {
                "name": s["name"],
                "state": s["state"],
                "prefix": f"{base}/steps/{s['id']}/",
                "stderr": f"{base}/steps/{s['id']}/stderr.gz",
                "controller": f"{base}/steps/{s['id']}/controller.gz",
            }
            for s in steps
        ],
    }


# --------------------------------------------------------------------------- schedule


def _find_state_machine(sfn: Any, name: str) -> str | None:
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    return None


def validate_definition(sfn: Any, definition: str) -> str:
    """Step Functions' own ``ValidateStateMachineDefinition`` where the endpoint has it:
    ``passed``, or ``not reachable (...)`` (moto and older endpoints lack it; the shape checks
    and the tests' walk of the ASL are then all there is). A FAIL stops the deploy with each
    diagnostic's code, location and message."""
    from botocore.exceptions import BotoCoreError

    try:
        result = sfn.validate_state_machine_definition(definition=definition, type="STANDARD")
    except (ClientError, BotoCoreError) as exc:
        unreachable = why_unreachable(exc)
        if unreachable is None:
            raise
        return unreachable
    if result.get("result") != "OK":
        lines = [
            f"{d.get('severity')} {d.get('code')} at {d.get('location', '?')}: {d.get('message')}"
            for d in result.get("diagnostics", [])
        ]
        raise EmrError("ValidateStateMachineDefinition refused the machine: " + "; ".join(lines))
    return "passed"


def deploy_schedule(
    cfg: Config, layout: defs.CodeLayout, overrides: tuple[str, ...] = ()
) -> dict[str, str]:
    """Create or update the state machine, then the schedule that starts it nightly."""
    sched = cfg.emr.schedule
    sfn = client(cfg, "stepfunctions")
    if sched.target == "serverless":
        from recsys.emr import serverless

        application_id, _ = serverless.ensure_application(cfg)
        machine = serverless.state_machine_definition(cfg, layout, application_id, overrides)
    else:
        machine = defs.state_machine_definition(cfg, layout, overrides)
    definition = json.dumps(machine, indent=1)
    shapes.check_request(
        "stepfunctions",
        "CreateStateMachine",
        {
            "name": sched.state_machine_name,
            "definition": definition,
            "roleArn": str(sched.state_machine_role_arn),
        },
    )
    validation = validate_definition(sfn, definition)
    arn = _find_state_machine(sfn, sched.state_machine_name)
    tags = [{"key": "recsys:code-version", "value": layout.version}]
    if arn is None:
        arn = sfn.create_state_machine(
            name=sched.state_machine_name,
            definition=definition,
            roleArn=sched.state_machine_role_arn,
            type="STANDARD",
            tags=tags,
        )["stateMachineArn"]
        machine_action = "created"
    else:
        sfn.update_state_machine(
            stateMachineArn=arn, definition=definition, roleArn=sched.state_machine_role_arn
        )
        sfn.tag_resource(resourceArn=arn, tags=tags)
        machine_action = "updated"
    scheduler = client(cfg, "scheduler")
    request = defs.schedule_request(cfg, arn)
    shapes.check_request("scheduler", "CreateSchedule", request)
    try:
        scheduler.get_schedule(Name=sched.schedule_name, GroupName=sched.schedule_group)
    except ClientError as exc:
        if not _not_found(exc):
            raise
        schedule_arn = scheduler.create_schedule(**request)["ScheduleArn"]
        schedule_action = "created"
    else:
        schedule_arn = scheduler.update_schedule(**request)["ScheduleArn"]
        schedule_action = "updated"
    done = {
        "validation": validation,
        "state_machine_arn": arn,
        "state_machine": machine_action,
        "schedule_arn": schedule_arn,
        "schedule": schedule_action,
    }
    if sched.alert_topic_arn:
        done["alert_rule_arn"] = alerts.deploy(cfg, arn)
    return done


def show_schedule(cfg: Config) -> dict[str, Any]:
    """The deployed state machine and schedule (``None`` parts are not deployed)."""
    sched = cfg.emr.schedule
    sfn = client(cfg, "stepfunctions")
    out: dict[str, Any] = {"state_machine": None, "schedule": None, "alerts": alerts.describe(cfg)}
    arn = _find_state_machine(sfn, sched.state_machine_name)
    if arn:
        machine = sfn.describe_state_machine(stateMachineArn=arn)
        tags = sfn.list_tags_for_resource(resourceArn=arn).get("tags", [])
        definition = json.loads(machine["definition"])
        out["state_machine"] = {
            "arn": arn,
            "status": machine.get("status"),
            "role_arn": machine.get("roleArn"),
            "code_version": {t["key"]: t["value"] for t in tags}.get("recsys:code-version"),
            "states": list(definition.get("States", {})),
        }
        execs = sfn.list_executions(stateMachineArn=arn, maxResults=5).get("executions", [])
        out["executions"] = [
            {"name": e["name"], "status": e["status"], "start": str(e["startDate"])} for e in execs
        ]
    try:
        got = client(cfg, "scheduler").get_schedule(
            Name=sched.schedule_name, GroupName=sched.schedule_group
        )
    except ClientError as exc:
        if not _not_found(exc):
            raise
    else:
        out["schedule"] = {
            "arn": got["Arn"],
            "expression": got["ScheduleExpression"],
            "timezone": got.get("ScheduleExpressionTimezone"),
            "state": got.get("State"),
            "target": got["Target"]["Arn"],
            "input": got["Target"].get("Input"),
        }
    return out


def remove_schedule(cfg: Config) -> dict[str, bool]:
    """Delete the schedule, then the state machine; absent parts are fine."""
    sched = cfg.emr.schedule
    removed = {"schedule": False, "state_machine": False, "alerts": False}
    try:
        client(cfg, "scheduler").delete_schedule(
            Name=sched.schedule_name, GroupName=sched.schedule_group
        )
        removed["schedule"] = True
    except ClientError as exc:
        if not _not_found(exc):
            raise
    sfn = client(cfg, "stepfunctions")
    arn = _find_state_machine(sfn, sched.state_machine_name)
    if arn:
        sfn.delete_state_machine(stateMachineArn=arn)
        removed["state_machine"] = True
    removed["alerts"] = alerts.remove(cfg)
    return removed


# --------------------------------------------------------------------------- one run


ATTEMPT = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})(-a(?P<n>\d+))?$")


def _run_exists(cfg: Config, run_id: str) -> bool:
    from recsys.storage.warehouse import Warehouse

    bucket, key = split_s3(Warehouse.from_config(cfg).run_uri(run_id).rstrip("/") + "/")
    found = client(cfg, "s3").list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return bool(found.get("KeyCount"))


def start_run(
    cfg: Config, date: str, from_step: str | None = None, source_run: str | None = None
) -> dict[str, str]:
    """Start the deployed state machine for one date, now.

    The execution is named by its run id, so StartExecution itself refuses a second start of
    the same attempt; and nothing starts while another execution is RUNNING. A date whose run
    folder exists already (a scheduled night, published or not) is never written again: the
    new run gets ``<date>-a<N>``, N one above the highest attempt started so far (the first,
    scheduled run counts as attempt 1). With ``from_step`` the run copies ``source_run``
    (default: the date's own run) and starts at that step."""
    from recsys import steps as pipeline

    if not ATTEMPT.match(date) or ATTEMPT.match(date).group("n"):
        raise EmrError(f"--date: {date!r} is not a date like 2026-11-24")
    if from_step is not None and cfg.emr.schedule.target == "serverless":
        raise EmrError(
            "--from-step: re-running from a step is built for emr.schedule.target cluster only "
            "(the copy of the source run is an s3-dist-cp step on the cluster)"
        )
    if from_step is not None and from_step not in [s.name for s in pipeline.STEPS]:
        names = ", ".join(s.name for s in pipeline.STEPS)
        raise EmrError(f"--from-step: {from_step!r} is not a pipeline step ({names})")
    sfn = client(cfg, "stepfunctions")
    arn = _find_state_machine(sfn, cfg.emr.schedule.state_machine_name)
    if arn is None:
        raise EmrError(
            f"state machine {cfg.emr.schedule.state_machine_name} is not deployed: run "
            "`recsys emr schedule deploy` first"
        )
    running = [
        e["name"]
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=arn, statusFilter="RUNNING"
        )
        for e in page["executions"]
    ]
    if running:
        raise EmrError(
            f"execution(s) {', '.join(running)} still RUNNING: one run at a time (stop it with "
            "aws stepfunctions stop-execution, or wait)"
        )
    attempts = [1] if _run_exists(cfg, date) else [0]
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            match = ATTEMPT.match(execution["name"])
            if match and match.group("date") == date:
                attempts.append(int(match.group("n") or 1))
    attempt = max(attempts) + 1
    run_id = date if attempt == 1 else f"{date}-a{attempt}"
    doc: dict[str, str] = {"run_id": run_id}
    if from_step is not None:
        source = source_run or date
        if not _run_exists(cfg, source):
            raise EmrError(
                f"--from-step {from_step}: run {source} has no folder in the warehouse to start "
                "from; pass --source-run, or run the whole date without --from-step"
            )
        doc.update({"from_step": from_step, "source_run": source})
    try:
        execution = sfn.start_execution(stateMachineArn=arn, name=run_id, input=json.dumps(doc))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise EmrError(f"an execution named {run_id} exists already") from None
        raise
    return {"execution_arn": execution["executionArn"], **doc}
