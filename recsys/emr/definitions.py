"""The EMR requests the pipeline needs, built from the config and the templates in ``emr/``.

Pure functions: nothing here talks to AWS. The same step arguments serve a one-off
``run_job_flow``, ``add_job_flow_steps`` on a running cluster and the nightly state machine,
where the run id is only known at run time (it becomes an ASL intrinsic over ``$.run_id``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys import steps as pipeline
from recsys.config import Config
from recsys.emr import templates
from recsys.emr.asl import RUN_ID_SENTINEL, asl_dynamic, asl_literal  # noqa: F401  (re-exported)
from recsys.emr.instances import _wants_task_nodes, instances, managed_scaling  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_TEMPLATE = "cluster.json"
CONFIGURATIONS = "configurations.json"
STATE_MACHINE_TEMPLATE = "nightly.asl.json"
BOOTSTRAP = "bootstrap.sh"
DEFINITION_FILES = (CLUSTER_TEMPLATE, CONFIGURATIONS, STATE_MACHINE_TEMPLATE, BOOTSTRAP)

PYFILES_NAME = "recsys.zip"
REQUIREMENTS_NAME = "requirements-emr.txt"
# The pinned packages (manylinux cp311 wheels installed into one folder), unpacked by YARN in
# every container as ./environment (spark-submit --archives <uri>#environment).
ENV_ARCHIVE = "env.tar.gz"
ENV_ALIAS = "environment"
MANIFEST_NAME = "manifest.json"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def definitions_dir(cfg: Config) -> Path:
    folder = Path(cfg.emr.definitions_dir)
    return folder if folder.is_absolute() else REPO_ROOT / folder


@dataclass(frozen=True)
class CodeLayout:
    """Where one packaged version lives: ``<code_prefix>/<version>/...``."""

    code_prefix: str
    version: str
    conf_name: str = "emr.yaml"

    @property
    def root(self) -> str:
        return f"{self.code_prefix.rstrip('/')}/{self.version}"

    def uri(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    @property
    def env_archive_uri(self) -> str:
        return self.uri(ENV_ARCHIVE)

    @property
    def pyfiles_uri(self) -> str:
        return self.uri(PYFILES_NAME)

    @property
    def conf_uri(self) -> str:
        return self.uri(f"conf/{self.conf_name}")

    @property
    def bootstrap_uri(self) -> str:
        return self.uri(BOOTSTRAP)

    @property
    def requirements_uri(self) -> str:
        return self.uri(REQUIREMENTS_NAME)

    @property
    def manifest_uri(self) -> str:
        return self.uri(MANIFEST_NAME)

    def job_uri(self, step: pipeline.Step) -> str:
        return self.uri(step.job_file)


def layout_for(cfg: Config, version: str, conf_name: str = "emr.yaml") -> CodeLayout:
    return CodeLayout(str(cfg.emr.code_prefix), version, conf_name)


# --------------------------------------------------------------------------- steps


VECTOR_MODULE = "--add-modules=jdk.incubator.vector"  # recsys.session.VECTOR_MODULE
YARN_ENVS = ("spark.yarn.appMasterEnv", "spark.executorEnv")


def python_conf(python: str) -> list[str]:
    """``--conf`` pairs that run a step's driver and executors on ``python`` with the packed
    packages (``./environment``) on their path. In the step itself, not only the cluster's
    classifications, so that steps added to a cluster this tool did not create do not fall
    back to the node's default Python (3.9 on EMR 7), which lacks the pinned packages."""
    settings = {
        "spark.pyspark.python": python,
        "spark.pyspark.driver.python": python,
        "spark.yarn.appMasterEnv.PYSPARK_PYTHON": python,
        "spark.executorEnv.PYSPARK_PYTHON": python,
        "spark.yarn.appMasterEnv.PYTHONPATH": f"./{ENV_ALIAS}",
        "spark.executorEnv.PYTHONPATH": f"./{ENV_ALIAS}",
        # Spark ML's Java BLAS on the JDK 17 vector API (recsys.session): through the java
        # launcher's JDK_JAVA_OPTIONS, which EMR's own extraJavaOptions do not replace
        **{f"{env}.JDK_JAVA_OPTIONS": VECTOR_MODULE for env in YARN_ENVS},
    }
    return [item for key, value in settings.items() for item in ("--conf", f"{key}={value}")]


def spark_submit_args(
    step: pipeline.Step,
    layout: CodeLayout,
    run_id: str,
    overrides: tuple[str, ...] = (),
    python: str = "/usr/bin/python3.11",
) -> list[str]:
    """``spark-submit`` in cluster mode for one pipeline step: the packed environment
    (``--archives``), the code (``--py-files``), the entry point and conf, all from S3."""
    args = [
        "spark-submit",
        "--deploy-mode",
        "cluster",
        "--name",
        f"recsys-{step.name}",
        "--archives",
        f"{layout.env_archive_uri}#{ENV_ALIAS}",
        *python_conf(python),
        "--py-files",
        layout.pyfiles_uri,
        layout.job_uri(step),
        "--conf",
        layout.conf_uri,
        "--run-id",
        run_id,
    ]
    for item in overrides:
        args += ["--set", item]
    return args


def step_name(step: pipeline.Step, run_id: str) -> str:
    return f"{step.name} ({run_id})"


def step_definition(
    step: pipeline.Step,
    layout: CodeLayout,
    run_id: str,
    action_on_failure: str,
    overrides: tuple[str, ...] = (),
    python: str = "/usr/bin/python3.11",
) -> dict[str, Any]:
    """One EMR ``StepConfig`` running the step through ``command-runner.jar``."""
    return {
        "Name": step_name(step, run_id),
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": spark_submit_args(step, layout, run_id, overrides, python),
        },
    }


def pipeline_steps(
    layout: CodeLayout,
    run_id: str,
    action_on_failure: str,
    overrides: tuple[str, ...] = (),
    python: str = "/usr/bin/python3.11",
) -> list[dict[str, Any]]:
    """Every pipeline step in order. A failed step stops the run, so ``latest`` (moved only
    by the last step) stays where it was."""
    return [
        step_definition(s, layout, run_id, action_on_failure, overrides, python)
        for s in pipeline.STEPS
    ]


def action_on_failure(cfg: Config, transient: bool) -> str:
    if cfg.emr.action_on_failure:
        return cfg.emr.action_on_failure
    return "TERMINATE_CLUSTER" if transient else "CANCEL_AND_WAIT"


# --------------------------------------------------------------------------- cluster


def _classification(configs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for item in configs:
        if item.get("Classification") == name:
            return item
    item = {"Classification": name, "Properties": {}}
    configs.append(item)
    return item


def _as_property(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def configurations(cfg: Config) -> list[dict[str, Any]]:
    """``emr/configurations.json`` plus the interpreter, region and ``emr.spark_defaults``."""
    configs = copy.deepcopy(templates.load(definitions_dir(cfg) / CONFIGURATIONS))
    python = cfg.emr.python
    defaults = _classification(configs, "spark-defaults").setdefault("Properties", {})
    defaults.update(
        {
            "spark.pyspark.python": python,
            "spark.pyspark.driver.python": python,
            "spark.yarn.appMasterEnv.AWS_REGION": cfg.emr.region,
            "spark.executorEnv.AWS_REGION": cfg.emr.region,
        }
    )
    defaults.update({str(k): _as_property(v) for k, v in cfg.emr.spark_defaults.items()})
    env = _classification(configs, "spark-env")
    env.setdefault("Properties", {})
    exports = _classification(env.setdefault("Configurations", []), "export")
    exports.setdefault("Properties", {})["PYSPARK_PYTHON"] = python
    key = cfg.emr.encryption.s3_kms_key
    if key:
        # EMRFS writes (the warehouse, the logs) with SSE-KMS under this key
        _classification(configs, "emrfs-site").setdefault("Properties", {}).update(
            {
                "fs.s3.enableServerSideEncryption": "true",
                "fs.s3.serverSideEncryption.kms.keyId": key,
            }
        )
    return configs


def tags(cfg: Config, layout: CodeLayout, run_id: str) -> list[dict[str, str]]:
    pairs = {**{str(k): str(v) for k, v in cfg.emr.tags.items()}}
    pairs.update({"recsys:run-id": run_id, "recsys:code-version": layout.version})
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


def cluster_request(
    cfg: Config,
    layout: CodeLayout,
    run_id: str,
    steps: list[dict[str, Any]] | None,
    keep_alive: bool,
    idle_timeout_seconds: int | None = None,
) -> dict[str, Any]:
    """A ``RunJobFlow`` request from ``emr/cluster.json``, with ``emr.extra`` merged on top."""
    values = {
        "name": f"{cfg.emr.cluster_name}-{run_id}",
        "release_label": cfg.emr.release_label,
        "log_uri": cfg.emr.log_uri,
        "instances": instances(cfg, keep_alive),
        "managed_scaling": managed_scaling(cfg),
        "bootstrap_uri": layout.bootstrap_uri,
        "python": cfg.emr.python,
        "configurations": configurations(cfg),
        "service_role": cfg.emr.service_role,
        "job_flow_role": cfg.emr.job_flow_role,
        "security_configuration": cfg.emr.encryption.security_configuration,
        "tags": tags(cfg, layout, run_id),
        "steps": steps,
        "auto_termination": (
            {"IdleTimeout": idle_timeout_seconds} if idle_timeout_seconds else None
        ),
    }
    path = definitions_dir(cfg) / CLUSTER_TEMPLATE
    request = templates.render(templates.load(path), values, str(path))
    request.update(copy.deepcopy(cfg.emr.extra))
    return request


def transient_cluster_request(
    cfg: Config, layout: CodeLayout, run_id: str, overrides: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A cluster that runs every step and terminates (also when a step fails)."""
    steps = pipeline_steps(
        layout, run_id, action_on_failure(cfg, transient=True), overrides, cfg.emr.python
    )
    return cluster_request(cfg, layout, run_id, steps, keep_alive=False)


# --------------------------------------------------------------------------- state machine


def asl_state_name(step: pipeline.Step) -> str:
    return f"Run {step.name}"


def _step_state(cfg: Config, config: dict[str, Any], nxt: str) -> dict[str, Any]:
    """One ``addStep.sync`` state: bounded by ``emr.schedule.step_timeout_seconds`` (a
    ``States.Timeout`` is caught like any error), any error terminates the cluster."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::elasticmapreduce:addStep.sync",
        "Parameters": {"ClusterId.$": "$.cluster.ClusterId", "Step": asl_dynamic(config)},
        "ResultPath": None,
        "TimeoutSeconds": cfg.emr.schedule.step_timeout_seconds,
        "Catch": [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.error",
                "Next": "Terminate after failure",
            }
        ],
        "Next": nxt,
    }


GUARD_TIMEOUT_SECONDS = 120  # one ListExecutions call, with its retries


def _copy_state(cfg: Config) -> dict[str, Any]:
    """A re-run's first step: ``s3-dist-cp`` the source run's folder into the re-run's own
    (``<warehouse>/runs/<source_run>`` -> ``.../<run_id>``), so the steps before ``from_step``
    need not run again and the source run is only read."""
    from recsys.storage.warehouse import Warehouse

    runs = asl_literal(Warehouse.from_config(cfg).runs_uri().rstrip("/") + "/{}")[1:-1]
    state = _step_state(
        cfg,
        {
            "Name.$": "States.Format('copy run {} to {}', $.source_run, $.run_id)",
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "HadoopJarStep": {
                "Jar": "command-runner.jar",
                "Args.$": (
                    f"States.Array('s3-dist-cp', '--src', States.Format('{runs}', $.source_run), "
                    f"'--dest', States.Format('{runs}', $.run_id))"
                ),
            },
        },
        "Go to step",
    )
    return state


def state_machine_definition(
    cfg: Config, layout: CodeLayout, overrides: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The nightly ASL from ``emr/nightly.asl.json``: create a cluster (retried with backoff),
    one ``addStep.sync`` state per pipeline step, terminate; a failure anywhere terminates and
    fails, a terminate that still fails after its retries fails the execution. Every task and
    the whole execution are bounded by the ``emr.schedule.*timeout_seconds`` keys."""
    cluster = cluster_request(
        cfg,
        layout,
        RUN_ID_SENTINEL,
        steps=None,
        keep_alive=True,
        idle_timeout_seconds=cfg.emr.idle_timeout_seconds,
    )
    step_states: dict[str, Any] = {}
    steps = list(pipeline.STEPS)
    for i, step in enumerate(steps):
        config = step_definition(
            step, layout, RUN_ID_SENTINEL, "TERMINATE_CLUSTER", overrides, cfg.emr.python
        )
        nxt = asl_state_name(steps[i + 1]) if i + 1 < len(steps) else "Terminate cluster"
        step_states[asl_state_name(step)] = _step_state(cfg, config, nxt)
    sched = cfg.emr.schedule
    values = {
        "cluster": asl_dynamic(cluster),
        "first_step": asl_state_name(steps[0]) if steps else "Terminate cluster",
        "pipeline_steps": step_states,
        "copy_state": _copy_state(cfg),
        "step_choices": [
            {"Variable": "$.from_step", "StringEquals": s.name, "Next": asl_state_name(s)}
            for s in steps
        ],
        "guard_timeout_seconds": GUARD_TIMEOUT_SECONDS,
        "code_version": layout.version,
        "timeout_seconds": sched.timeout_seconds,
        "cluster_timeout_seconds": sched.cluster_timeout_seconds,
    }
    path = definitions_dir(cfg) / STATE_MACHINE_TEMPLATE
    return templates.render(templates.load(path), values, str(path))


def schedule_request(cfg: Config, state_machine_arn: str) -> dict[str, Any]:
    """``CreateSchedule``: start the state machine nightly; its input carries the scheduled
    time, from which the state machine takes the run id (the date)."""
    sched = cfg.emr.schedule
    return {
        "Name": sched.schedule_name,
        "GroupName": sched.schedule_group,
        "ScheduleExpression": sched.cron,
        "ScheduleExpressionTimezone": sched.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED" if sched.enabled else "DISABLED",
        "Description": "recsys nightly pipeline on a transient EMR cluster",
        "Target": {
            "Arn": state_machine_arn,
            "RoleArn": sched.scheduler_role_arn,
            "Input": json.dumps({"scheduled_time": SCHEDULED_TIME}),
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
        },
    }
