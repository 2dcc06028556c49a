"""EMR-specific validation of a loaded config, run before any AWS call.

``recsys.config`` checks types and ranges for every environment; an EMR run needs more
(a bucket, S3 paths, instance types EC2 knows the shape of, a release label of the EMR line
whose Spark is the one pyspark pins). Every problem found is reported at once, each line naming
its key. What needs EMR's answer (the release's exact Spark, the instance types it supports)
is :func:`recsys.emr.aws.preflight`'s, before the first request that creates anything.
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from urllib.parse import urlparse

from recsys.config import Config
from recsys.emr import releases
from recsys.errors import ConfigError

# family (with a generation digit) '.' size: m5.xlarge, r6gd.16xlarge, c7gn.metal-48xl ...
INSTANCE_TYPE = re.compile(
    r"^(?=[a-z-]*\d)[a-z][a-z0-9-]*"
    r"\.(nano|micro|small|medium|large|xlarge|\d+xlarge|metal|metal-\d+xl)$"
)
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[\w/+=,.@-]+$")
TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
SCHEDULE_EXPRESSION = re.compile(r"^(cron\(\S+( \S+){5}\)|rate\(\d+ (minute|hour|day)s?\))$")
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
BUILD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The characters ASL intrinsic functions need escaped, and shell-unsafe ones: keep them out.
UNSAFE_PATH_CHARS = set("'{}\\\" \t\n$`")


class EmrConfigError(ConfigError):
    """The config cannot be used on EMR; every line names a key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"config not usable on EMR ({len(problems)} problem(s)):\n{lines}")


def s3_problem(key: str, uri: str | None, required: bool = True) -> str | None:
    """Why ``uri`` is not a usable ``s3://bucket/...`` URI (None if it is)."""
    if uri is None:
        return f"{key}: missing; set an s3://bucket/prefix" if required else None
    parsed = urlparse(uri)
    if parsed.scheme != "s3":
        return f"{key}: {uri!r} is not an s3:// URI (an EMR cluster cannot read local paths)"
    if not parsed.netloc:
        return f"{key}: {uri!r} is missing the bucket (s3://BUCKET/prefix)"
    if not BUCKET.match(parsed.netloc):
        return f"{key}: {parsed.netloc!r} is not a valid S3 bucket name"
    if UNSAFE_PATH_CHARS & set(uri):
        return f"{key}: {uri!r} has quotes, braces, spaces or '$'; use a plain path"
    return None


def _node_problems(key: str, nodes, mode: str) -> list[str]:
    problems = []
    if not nodes.instance_types:
        problems.append(f"{key}.instance_types: empty; give at least one, like r5.2xlarge")
    for i, itype in enumerate(nodes.instance_types):
        if not isinstance(itype, str) or not INSTANCE_TYPE.match(itype):
            problems.append(
                f"{key}.instance_types[{i}]: {itype!r} is not an EC2 instance type "
                "like m5.xlarge or r6i.2xlarge"
            )
    if mode == "fleets" and len(nodes.instance_types) > 30:
        problems.append(f"{key}.instance_types: at most 30 types per fleet")
    return problems


def cluster_problems(cfg: Config, spark_version: str | None = None) -> list[str]:
    """Every reason ``cfg`` cannot create an EMR cluster and run the pipeline on it."""
    emr = cfg.emr
    problems: list[str | None] = [
        s3_problem("emr.code_prefix", emr.code_prefix),
        s3_problem("emr.log_uri", emr.log_uri),
        s3_problem("warehouse.dir", cfg.warehouse.dir),
        s3_problem("input.dir", cfg.input.dir),
    ]
    if cfg.spark.master:
        problems.append(
            f"spark.master: {cfg.spark.master!r} must be unset on EMR (spark-submit sets YARN)"
        )
    try:
        pinned = spark_version or releases.pinned_spark_version()
    except (OSError, ValueError) as exc:
        problems.append(f"emr.release_label: cannot tell the pinned Spark version: {exc}")
    else:
        # offline: the label's shape and its EMR line's Spark; the exact Spark is asked of
        # DescribeReleaseLabel before a cluster is created (recsys.emr.aws.preflight)
        problem = releases.label_problem(emr.release_label, pinned)
        if problem:
            problems.append(f"emr.release_label: {problem}")
    for role in ("primary", "core", "task"):
        problems.extend(_node_problems(f"emr.{role}", getattr(emr, role), emr.instance_mode))
    problems.extend(_count_problems(emr))
    for i, subnet in enumerate(emr.subnet_ids):
        if not isinstance(subnet, str) or not SUBNET.match(subnet):
            problems.append(
                f"emr.subnet_ids[{i}]: {subnet!r} is not a subnet id like subnet-0abc1234"
            )
    if emr.instance_mode == "groups" and len(emr.subnet_ids) > 1:
        problems.append("emr.subnet_ids: instance groups take one subnet; use fleets for several")
    problems.extend(scaling_problems(emr))
    if not emr.python.startswith("/"):
        problems.append(f"emr.python: {emr.python!r} must be an absolute path on the nodes")
    for key, value in emr.spark_defaults.items():
        if not isinstance(value, (str, int, float, bool)):
            problems.append(f"emr.spark_defaults.{key}: {value!r} must be a scalar")
    for key, value in emr.tags.items():
        if not isinstance(value, (str, int, float)):
            problems.append(f"emr.tags.{key}: {value!r} must be a string")
    problems.extend(encryption_problems(cfg))
    problems.extend(definitions_problems(cfg))
    return [p for p in problems if p]


def encryption_problems(cfg: Config) -> list[str | None]:
    enc = cfg.emr.encryption
    problems: list[str | None] = []
    for key in ("s3_kms_key", "local_disk_kms_key"):
        value = getattr(enc, key)
        if value is not None and not KMS_KEY_ARN.match(value):
            problems.append(
                f"emr.encryption.{key}: {value!r} is not a KMS key ARN like "
                "arn:aws:kms:us-east-1:123456789012:key/<id> (EMR needs the ARN, not an id)"
            )
    if enc.security_configuration is not None and not NAME.match(enc.security_configuration):
        problems.append(
            f"emr.encryption.security_configuration: {enc.security_configuration!r} must be "
            "1-64 letters, digits, '.', '_' or '-'"
        )
    problems.append(
        s3_problem("emr.encryption.tls_certificates_uri", enc.tls_certificates_uri, False)
    )
    return problems


def _count_problems(emr) -> list[str]:
    """Node counts RunJobFlow takes. ``InstanceFleetConfig``: "At least one of
    TargetSpotCapacity and TargetOnDemandCapacity should be greater than 0. For a master
    instance fleet, only one of TargetSpotCapacity and TargetOnDemandCapacity can be specified,
    and its value must be 1." A fleet is sent with one capacity field, its role's count, so
    the primary count must be 1 with fleets and a task fleet exists only with a count above 0;
    managed scaling then grows that task fleet (see ``definitions._wants_task_nodes``)."""
    problems = []
    fleets = emr.instance_mode == "fleets"
    if fleets and emr.primary.count != 1:
        problems.append(
            f"emr.primary.count: {emr.primary.count} must be 1 with instance fleets (a master "
            "fleet takes one capacity field, of value 1); use instance_mode groups for 3 (HA)"
        )
    elif emr.primary.count not in (1, 3):
        problems.append(f"emr.primary.count: {emr.primary.count} must be 1 (or 3 for HA)")
    if emr.core.count < 1:
        problems.append("emr.core.count: at least 1 core node is needed (YARN and HDFS)")
    scaling = emr.managed_scaling
    task_units = scaling.max_units - scaling.max_core_units if scaling.enabled else 0
    if fleets and emr.task.count == 0 and task_units > 0:
        problems.append(
            f"emr.task.count: 0 with instance fleets, but managed scaling may put {task_units} "
            f"unit(s) on task nodes (emr.managed_scaling.max_units {scaling.max_units} > "
            f"max_core_units {scaling.max_core_units}); a fleet of capacity 0 is not a valid "
            "request, so there would be no task fleet to scale: set emr.task.count to 1 or "
            "more (a task fleet that managed scaling grows from there), or set "
            "emr.managed_scaling.max_core_units to max_units (core-only scaling)"
        )
    return problems


def scaling_problems(emr) -> list[str]:
    """Managed scaling limits RunJobFlow rejects.

    The ComputeLimits API reference describes the limits, not how they relate:
    "MaximumOnDemandCapacityUnits: The upper boundary of On-Demand Amazon EC2 units. [...] The
    parameter is used to split capacity allocation between On-Demand and Spot Instances." and
    "MaximumCoreCapacityUnits: The upper boundary of Amazon EC2 units for core node type in a
    cluster. [...] The parameter is used to split capacity allocation between core and task
    nodes." The rule for on-demand core groups is RunJobFlow's own ValidationException (quoted
    in boto/boto3#3963): "Invalid configuration for managed scaling. If you select On-Demand
    market type for core nodes in a cluster with instance groups, MaximumCoreCapacityUnits must
    be less than or equal to MaximumOnDemandCapacityUnits." (The Management Guide's scenario
    "On-Demand Instances on core nodes and Spot Instances on task nodes" likewise asks for
    "The On-Demand limit must be equal to the maximum core node.")"""
    scaling = emr.managed_scaling
    if not scaling.enabled:
        return []
    problems = []
    if scaling.min_units > scaling.max_units:
        problems.append(
            f"emr.managed_scaling.min_units: {scaling.min_units} is above max_units "
            f"{scaling.max_units}"
        )
    for name in ("max_on_demand_units", "max_core_units"):
        if getattr(scaling, name) > scaling.max_units:
            problems.append(
                f"emr.managed_scaling.{name}: {getattr(scaling, name)} is above max_units "
                f"{scaling.max_units}"
            )
    on_demand_core = emr.instance_mode == "groups" and emr.core.market == "ON_DEMAND"
    if on_demand_core and scaling.max_core_units > scaling.max_on_demand_units:
        problems.append(
            f"emr.managed_scaling.max_core_units: {scaling.max_core_units} is above "
            f"emr.managed_scaling.max_on_demand_units {scaling.max_on_demand_units}; with "
            "instance groups and on-demand core nodes (emr.core.market ON_DEMAND) RunJobFlow "
            "requires max_core_units <= max_on_demand_units"
        )
    return problems


def definitions_problems(cfg: Config) -> list[str]:
    from recsys.emr.definitions import DEFINITION_FILES, definitions_dir

    folder = definitions_dir(cfg)
    missing = [name for name in DEFINITION_FILES if not (folder / name).is_file()]
    if missing:
        return [f"emr.definitions_dir: {folder} lacks {', '.join(missing)}"]
    return []


def schedule_problems(cfg: Config) -> list[str]:
    """Every reason the nightly schedule cannot be deployed from ``cfg``."""
    sched = cfg.emr.schedule
    problems = []
    if not SCHEDULE_EXPRESSION.match(sched.cron):
        problems.append(
            f"emr.schedule.cron: {sched.cron!r} is not an EventBridge Scheduler expression "
            "like cron(0 2 * * ? *) (six fields) or rate(1 day)"
        )
    if zoneinfo.available_timezones() and sched.timezone not in zoneinfo.available_timezones():
        problems.append(f"emr.schedule.timezone: {sched.timezone!r} is not an IANA time zone")
    for key in ("state_machine_role_arn", "scheduler_role_arn"):
        arn = getattr(sched, key)
        if arn is None:
            problems.append(
                f"emr.schedule.{key}: missing; set the IAM role ARN (see emr/README.md)"
            )
        elif not ROLE_ARN.match(arn):
            problems.append(f"emr.schedule.{key}: {arn!r} is not an IAM role ARN")
    problems.extend(timeout_problems(cfg))
    if sched.alert_topic_arn is not None and not TOPIC_ARN.match(sched.alert_topic_arn):
        problems.append(
            f"emr.schedule.alert_topic_arn: {sched.alert_topic_arn!r} is not an SNS topic ARN "
            "like arn:aws:sns:us-east-1:123456789012:recsys-alerts"
        )
    for key in ("state_machine_name", "schedule_name", "schedule_group", "alert_rule_name"):
        if not NAME.match(getattr(sched, key)):
            problems.append(
                f"emr.schedule.{key}: {getattr(sched, key)!r} must be 1-64 letters, digits, '.', "
                "'_' or '-'"
            )
    return problems


def timeout_problems(cfg: Config) -> list[str]:
    """The state machine's timeouts fit inside each other. The execution's own
    ``TimeoutSeconds`` cannot be caught ("Step Functions catchers are available for Task,
    Parallel and Map states, but not for top-level state machine execution failures"), so each
    task's timeout, which is caught and terminates the cluster, must fire before it; and the
    create state must outlast the Spot wait of a fleet (``emr.spot_timeout_minutes``)."""
    sched, emr = cfg.emr.schedule, cfg.emr
    problems = []
    for key in ("step_timeout_seconds", "cluster_timeout_seconds"):
        if getattr(sched, key) >= sched.timeout_seconds:
            problems.append(
                f"emr.schedule.{key}: {getattr(sched, key)} must be below "
                f"emr.schedule.timeout_seconds {sched.timeout_seconds} (the execution's timeout "
                "is not caught, so a task must time out first and terminate the cluster)"
            )
    nodes = (emr.primary, emr.core, emr.task)
    spot = any(n.market == "SPOT" and n.count > 0 for n in nodes)
    spot_wait = emr.spot_timeout_minutes * 60
    if emr.instance_mode == "fleets" and spot and sched.cluster_timeout_seconds < spot_wait + 600:
        problems.append(
            f"emr.schedule.cluster_timeout_seconds: {sched.cluster_timeout_seconds} leaves no "
            f"time to start a cluster whose fleets wait {spot_wait} s for Spot "
            f"(emr.spot_timeout_minutes {emr.spot_timeout_minutes}); give at least "
            f"{spot_wait + 600} (the wait plus 10 minutes of provisioning and bootstrap)"
        )
    return problems


def serverless_problems(cfg: Config) -> list[str]:
    """Every reason the jobs cannot run on EMR Serverless from ``cfg``."""
    sls = cfg.emr.serverless
    problems = []
    arn = sls.execution_role_arn
    if arn is None:
        problems.append(
            "emr.serverless.execution_role_arn: missing; set the job runtime role's ARN "
            "(trusted by emr-serverless.amazonaws.com, see emr/README.md)"
        )
    elif not ROLE_ARN.match(arn):
        problems.append(f"emr.serverless.execution_role_arn: {arn!r} is not an IAM role ARN")
    if not NAME.match(sls.application_name):
        problems.append(
            f"emr.serverless.application_name: {sls.application_name!r} must be 1-64 letters, "
            "digits, '.', '_' or '-'"
        )
    for key in ("driver_cpu", "executor_cpu", "max_cpu"):
        if not re.match(r"^\d+ vCPU$", getattr(sls, key)):
            problems.append(f"emr.serverless.{key}: {getattr(sls, key)!r} is not like '4 vCPU'")
    for key in ("driver_memory", "executor_memory", "max_memory", "max_disk"):
        if not re.match(r"^\d+ GB$", getattr(sls, key)):
            problems.append(f"emr.serverless.{key}: {getattr(sls, key)!r} is not like '16 GB'")
    if sls.python is not None and not sls.python.startswith("/"):
        problems.append(f"emr.serverless.python: {sls.python!r} must be an absolute path")
    return problems


def check_build_id(build_id: str) -> str:
    if not BUILD_ID.match(build_id):
        raise EmrConfigError(
            [f"--build-id: {build_id!r} must be 1-64 letters, digits, '.', '_' or '-'"]
        )
    return build_id


def validate(
    cfg: Config,
    schedule: bool = False,
    spark_version: str | None = None,
    serverless: bool = False,
) -> Config:
    """Raise :class:`EmrConfigError` listing every problem; return ``cfg`` when usable."""
    problems = cluster_problems(cfg, spark_version)
    if schedule:
        problems += schedule_problems(cfg)
    if serverless or (schedule and cfg.emr.schedule.target == "serverless"):
        problems += serverless_problems(cfg)
    if problems:
        raise EmrConfigError(problems)
    return cfg


def conf_file_problem(conf: str) -> str | None:
    if "://" in conf:
        return f"--conf: {conf!r} must be a local file to package (it is uploaded with the code)"
    if not Path(conf).is_file():
        return f"--conf: {conf} not found"
    return None
