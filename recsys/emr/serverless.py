"""EMR Serverless, the second target: the same jobs as job runs on one application.

An application is created (or the live one of ``emr.serverless.application_name`` reused);
each pipeline step is one ``StartJobRun`` whose ``sparkSubmitParameters`` carry the same packed
environment (``--archives env.tar.gz#environment``) and code zip as a cluster step. Job runs
are independent, so the steps run one after the other: the CLI follows each to its end
(there is no boto3 waiter for EMR Serverless), the nightly machine uses
``emr-serverless:startJobRun.sync``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from recsys import steps as pipeline
from recsys.config import Config
from recsys.emr import definitions as defs
from recsys.emr import shapes

LIVE_STATES = ("CREATING", "CREATED", "STARTING", "STARTED", "STOPPING", "STOPPED")
DONE_STATES = ("SUCCESS", "FAILED", "CANCELLED")


def python(cfg: Config) -> str:
    return cfg.emr.serverless.python or cfg.emr.python


def log_uri(cfg: Config) -> str:
    return f"{str(cfg.emr.log_uri).rstrip('/')}/serverless/"


# --------------------------------------------------------------------------- requests


def application_request(cfg: Config) -> dict[str, Any]:
    """``CreateApplication``: Spark on ``emr.serverless.release_label`` (else the cluster's),
    capacity bounds and pre-initialised workers from ``emr.serverless``."""
    sls = cfg.emr.serverless
    request: dict[str, Any] = {
        "name": sls.application_name,
        "releaseLabel": sls.release_label or cfg.emr.release_label,
        "type": "SPARK",
        "clientToken": str(uuid.uuid4()),
        "maximumCapacity": {"cpu": sls.max_cpu, "memory": sls.max_memory, "disk": sls.max_disk},
        "autoStartConfiguration": {"enabled": True},
        "autoStopConfiguration": {"enabled": True, "idleTimeoutMinutes": sls.idle_stop_minutes},
        "tags": {str(k): str(v) for k, v in cfg.emr.tags.items()},
    }
    initial = {}
    for kind, count, cpu, memory in (
        ("DRIVER", sls.initial_drivers, sls.driver_cpu, sls.driver_memory),
        ("EXECUTOR", sls.initial_executors, sls.executor_cpu, sls.executor_memory),
    ):
        if count:
            initial[kind] = {
                "workerCount": count,
                "workerConfiguration": {"cpu": cpu, "memory": memory},
            }
    if initial:
        request["initialCapacity"] = initial
    if sls.image_uri:
        request["imageConfiguration"] = {"imageUri": sls.image_uri}
    return request


def spark_submit_parameters(cfg: Config, layout: defs.CodeLayout) -> str:
    """The environment, the code and the interpreter, as ``sparkSubmitParameters``. Driver
    variables are ``spark.emr-serverless.driverEnv.*`` here (no YARN application master)."""
    sls, py = cfg.emr.serverless, python(cfg)
    settings = {
        "spark.driver.cores": sls.driver_cpu.split()[0],
        "spark.driver.memory": _spark_memory(sls.driver_memory),
        "spark.executor.cores": sls.executor_cpu.split()[0],
        "spark.executor.memory": _spark_memory(sls.executor_memory),
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": py,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": py,
        "spark.executorEnv.PYSPARK_PYTHON": py,
        "spark.emr-serverless.driverEnv.PYTHONPATH": f"./{defs.ENV_ALIAS}",
        "spark.executorEnv.PYTHONPATH": f"./{defs.ENV_ALIAS}",
        "spark.emr-serverless.driverEnv.AWS_REGION": cfg.emr.region,
        "spark.executorEnv.AWS_REGION": cfg.emr.region,
        "spark.emr-serverless.driverEnv.JDK_JAVA_OPTIONS": defs.VECTOR_MODULE,
        "spark.executorEnv.JDK_JAVA_OPTIONS": defs.VECTOR_MODULE,
        **{str(k): defs._as_property(v) for k, v in cfg.emr.spark_defaults.items()},
    }
    key = cfg.emr.encryption.s3_kms_key
    if key:
        settings["spark.hadoop.fs.s3.enableServerSideEncryption"] = "true"
        settings["spark.hadoop.fs.s3.serverSideEncryption.kms.keyId"] = key
    parts = [
        f"--archives {layout.env_archive_uri}#{defs.ENV_ALIAS}",
        f"--py-files {layout.pyfiles_uri}",
    ]
    parts += [f"--conf {k}={v}" for k, v in settings.items()]
    return " ".join(parts)


def _spark_memory(worker_memory: str) -> str:
    """A worker of ``16 GB`` gets a JVM of 12g: EMR Serverless adds the overhead on top."""
    gigabytes = int(worker_memory.split()[0])
    return f"{max(1, int(gigabytes * 0.75))}g"


def job_run_request(
    cfg: Config,
    layout: defs.CodeLayout,
    step: pipeline.Step,
    run_id: str,
    application_id: str,
    overrides: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``StartJobRun`` for one pipeline step: the same entry point, conf and run id as the
    cluster step, bounded by ``emr.schedule.step_timeout_seconds``."""
    arguments = ["--conf", layout.conf_uri, "--run-id", run_id]
    for item in overrides:
        arguments += ["--set", item]
    return {
        "applicationId": application_id,
        "clientToken": str(uuid.uuid4()),
        "executionRoleArn": str(cfg.emr.serverless.execution_role_arn),
        "name": defs.step_name(step, run_id),
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": layout.job_uri(step),
                "entryPointArguments": arguments,
                "sparkSubmitParameters": spark_submit_parameters(cfg, layout),
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": log_uri(cfg)}}
        },
        "executionTimeoutMinutes": max(5, cfg.emr.schedule.step_timeout_seconds // 60),
        "tags": {"recsys:run-id": run_id, "recsys:code-version": layout.version},
    }


def _pascal(node: Any) -> Any:
    """API request keys as the Step Functions integration spells them (``applicationId`` ->
    ``ApplicationId``); map values (tags) keep their keys."""
    if isinstance(node, dict):
        return {
            key[0].upper() + key[1:]: (value if key == "tags" else _pascal(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_pascal(v) for v in node]
    return node


def state_machine_definition(
    cfg: Config, layout: defs.CodeLayout, application_id: str, overrides: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The nightly on EMR Serverless: resolve the run id, the guard, then one
    ``emr-serverless:startJobRun.sync`` state per step; any failure fails the execution
    (nothing to terminate: the application stops itself when idle)."""
    sched = cfg.emr.schedule
    cluster_machine = defs.state_machine_definition(cfg, layout, overrides)
    keep = ("Resolve run id", "Given run id", "Scheduled date", "Start date")
    states = {name: cluster_machine["States"][name] for name in keep}
    for name in ("Check running", "Only run", "Already running", "Guard failed"):
        states[name] = cluster_machine["States"][name]
    states["Resolve run id"]["Choices"] = [
        c for c in states["Resolve run id"]["Choices"] if c["Variable"] != "$.from_step"
    ]
    steps = list(pipeline.STEPS)
    states["Only run"]["Default"] = defs.asl_state_name(steps[0])
    for i, step in enumerate(steps):
        request = job_run_request(
            cfg, layout, step, defs.RUN_ID_SENTINEL, application_id, overrides
        )
        del request["clientToken"]  # one per execution: States.UUID() below
        params = defs.asl_dynamic(_pascal(request))
        params["ClientToken.$"] = "States.UUID()"
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::emr-serverless:startJobRun.sync",
            "Parameters": params,
            "ResultPath": None,
            "TimeoutSeconds": sched.step_timeout_seconds,
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Pipeline failed"}
            ],
        }
        if i + 1 < len(steps):
            state["Next"] = defs.asl_state_name(steps[i + 1])
        else:
            state["End"] = True
        states[defs.asl_state_name(step)] = state
    states["Pipeline failed"] = {
        "Type": "Fail",
        "Error": "RecsysPipelineFailed",
        "CausePath": "$.error.Cause",
    }
    return {
        "Comment": f"recsys nightly on EMR Serverless application {application_id} (code "
        f"{layout.version}): the guard, then one job run per pipeline step in order; a failure "
        "fails the execution and latest, moved only by the last step, stays put.",
        "StartAt": "Resolve run id",
        "TimeoutSeconds": sched.timeout_seconds,
        "States": states,
    }


# --------------------------------------------------------------------------- AWS


def find_application(cfg: Config) -> dict[str, Any] | None:
    """The live application named ``emr.serverless.application_name`` (newest first)."""
    from recsys.emr.aws import client

    sls = client(cfg, "emr-serverless")
    name = cfg.emr.serverless.application_name
    found = [
        app
        for page in sls.get_paginator("list_applications").paginate(states=list(LIVE_STATES))
        for app in page["applications"]
        if app["name"] == name
    ]
    return max(found, key=lambda a: a["createdAt"]) if found else None


def ensure_application(cfg: Config) -> tuple[str, str]:
    """The application's id, and ``created`` or ``reused``."""
    from recsys.emr.aws import EmrError, client

    found = find_application(cfg)
    if found:
        wanted = cfg.emr.serverless.release_label or cfg.emr.release_label
        if found["releaseLabel"] != wanted:
            raise EmrError(
                f"EMR Serverless application {found['name']} ({found['id']}) runs "
                f"{found['releaseLabel']}, not {wanted} (emr.serverless.release_label): delete it "
                "or give emr.serverless.application_name a new name"
            )
        return found["id"], "reused"
    request = application_request(cfg)
    shapes.check_request("emr-serverless", "CreateApplication", request)
    return client(cfg, "emr-serverless").create_application(**request)["applicationId"], "created"


def submit(
    cfg: Config,
    layout: defs.CodeLayout,
    run_id: str,
    overrides: tuple[str, ...] = (),
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, str]]:
    """Run every step as a job run, in order, each followed to its end; raise
    :class:`recsys.emr.aws.EmrError` at the first that does not succeed."""
    from recsys.emr.aws import EmrError, client

    application_id, action = ensure_application(cfg)
    log(f"application {application_id} ({action})")
    sls = client(cfg, "emr-serverless")
    done: list[dict[str, str]] = []
    for i, step in enumerate(pipeline.STEPS, 1):
        request = job_run_request(cfg, layout, step, run_id, application_id, overrides)
        shapes.check_request("emr-serverless", "StartJobRun", request)
        job_run_id = sls.start_job_run(**request)["jobRunId"]
        deadline = time.monotonic() + cfg.emr.schedule.step_timeout_seconds
        while True:
            run = sls.get_job_run(applicationId=application_id, jobRunId=job_run_id)["jobRun"]
            if run["state"] in DONE_STATES or time.monotonic() > deadline:
                break
            sleep(cfg.emr.wait_delay_seconds)
        done.append({"step": step.name, "job_run_id": job_run_id, "state": run["state"]})
        if run["state"] != "SUCCESS":
            raise EmrError(
                f"step {i}/{len(pipeline.STEPS)} {request['name']} is {run['state']} "
                f"({run.get('stateDetails', '')}); the later steps do not run. Logs: recsys emr "
                f"serverless logs --run-id {run_id}"
            )
        log(f"[{i}/{len(pipeline.STEPS)}] {request['name']}: SUCCESS ({job_run_id})")
    return done


def status(cfg: Config, run_id: str | None = None) -> dict[str, Any]:
    """The job runs of ``run_id`` (default: the newest run's) on the application, in order."""
    from recsys.emr.aws import EmrError, client

    found = find_application(cfg)
    if not found:
        raise EmrError(f"no live EMR Serverless application {cfg.emr.serverless.application_name}")
    sls = client(cfg, "emr-serverless")
    runs = [
        r
        for page in sls.get_paginator("list_job_runs").paginate(applicationId=found["id"])
        for r in page["jobRuns"]
        if r.get("name", "").endswith(")")
    ]
    if run_id is None and runs:
        # ties (a coarse clock) go to the later one listed
        _, newest = max(enumerate(runs), key=lambda pair: (pair[1]["createdAt"], pair[0]))
        run_id = newest["name"].rsplit("(", 1)[1][:-1]
    mine = sorted(
        (r for r in runs if r["name"].endswith(f"({run_id})")), key=lambda r: r["createdAt"]
    )
    if not mine:
        raise EmrError(f"no job runs of run {run_id} on application {found['id']}")
    return {
        "application_id": found["id"],
        "run_id": run_id,
        "job_runs": [
            {
                "id": r["id"],
                "name": r["name"],
                "state": r["state"],
                "logs": f"{log_uri(cfg)}applications/{found['id']}/jobs/{r['id']}/",
            }
            for r in mine
        ],
    }
