"""The EMR sections: the cluster, its node roles, managed scaling and the nightly schedule.

Only the ``recsys emr`` commands read them; :mod:`recsys.emr.checks` adds the checks an EMR
run needs beyond types and ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from recsys.config.validate import spec


@dataclass(frozen=True)
class EmrNodesConfig:
    """One node role (primary, core or task) of the EMR cluster."""

    instance_types: list[str] = spec(
        factory=lambda: ["m5.xlarge"],
        doc="EC2 types, e.g. r5.2xlarge; fleets use all of them, groups the first",
    )
    count: int = spec(1, min=0, doc="instances (fleet units = instances here)")
    market: str = spec("ON_DEMAND", choices=("ON_DEMAND", "SPOT"))
    ebs_gb: int = spec(64, min=0, doc="gp3 EBS volume per instance; 0 for none")


_WORKER_TYPES = ("r5.2xlarge", "r5a.2xlarge", "r6i.2xlarge")


@dataclass(frozen=True)
class EmrCoreNodesConfig(EmrNodesConfig):
    """Core nodes (YARN + HDFS): memory-optimised, Spot by default."""

    instance_types: list[str] = spec(factory=lambda: list(_WORKER_TYPES))
    count: int = spec(2, min=0)
    market: str = spec("SPOT", choices=("ON_DEMAND", "SPOT"))


@dataclass(frozen=True)
class EmrTaskNodesConfig(EmrNodesConfig):
    """Task nodes (YARN only): Spot capacity that managed scaling adds and removes."""

    instance_types: list[str] = spec(factory=lambda: list(_WORKER_TYPES))
    count: int = spec(
        1, min=0, doc="fleets: at least 1 when managed scaling may add task nodes (no 0 fleet)"
    )
    market: str = spec("SPOT", choices=("ON_DEMAND", "SPOT"))


@dataclass(frozen=True)
class EmrScalingConfig:
    """EMR managed scaling bounds (core + task instances)."""

    enabled: bool = spec(True)
    min_units: int = spec(2, min=1)
    max_units: int = spec(12, min=1)
    max_on_demand_units: int = spec(3, min=0, doc="above this, scaling adds Spot capacity")
    max_core_units: int = spec(
        4, min=1, doc="above this, scaling adds task nodes (on-demand core groups: <= on-demand)"
    )


@dataclass(frozen=True)
class EmrScheduleConfig:
    """The nightly Step Functions state machine and its EventBridge Scheduler schedule."""

    cron: str = spec("cron(0 2 * * ? *)", doc="EventBridge Scheduler expression")
    timezone: str = spec("UTC", doc="IANA time zone of the cron expression")
    state_machine_name: str = spec("recsys-nightly")
    state_machine_role_arn: Optional[str] = spec(
        None, doc="role Step Functions assumes to create clusters and add steps"
    )
    schedule_name: str = spec("recsys-nightly")
    schedule_group: str = spec("default")
    scheduler_role_arn: Optional[str] = spec(
        None, doc="role EventBridge Scheduler assumes to start the state machine"
    )
    enabled: bool = spec(True)
    alert_topic_arn: Optional[str] = spec(
        None, doc="SNS topic told of a FAILED, TIMED_OUT or ABORTED execution (EventBridge rule)"
    )
    alert_rule_name: str = spec("recsys-nightly-failed", doc="the EventBridge rule's name")
    target: str = spec(
        "cluster", choices=("cluster", "serverless"), doc="where the nightly runs the steps"
    )
    timeout_seconds: int = spec(
        28800, min=600, max=86400, doc="the whole execution; uncatchable, see emr/README.md"
    )
    step_timeout_seconds: int = spec(
        10800, min=60, max=86400, doc="each pipeline step state; over it, terminate and fail"
    )
    cluster_timeout_seconds: int = spec(
        3600, min=300, max=86400, doc="the create-cluster and terminate-cluster states"
    )


@dataclass(frozen=True)
class EmrEncryptionConfig:
    """Encryption at rest and in transit: an EMR security configuration, SSE-KMS on S3."""

    security_configuration: Optional[str] = spec(
        None, doc="name of the EMR security configuration the cluster uses (RunJobFlow)"
    )
    s3_kms_key: Optional[str] = spec(
        None,
        doc="KMS key ARN: SSE-KMS for EMRFS writes (warehouse, logs) and the code uploads",
    )
    local_disk_kms_key: Optional[str] = spec(
        None, doc="KMS key ARN for local disks and EBS (in the security configuration)"
    )
    tls_certificates_uri: Optional[str] = spec(
        None, doc="s3:// zip of PEM certificates: turns on in-transit encryption"
    )


@dataclass(frozen=True)
class EmrServerlessConfig:
    """EMR Serverless, the second target: one application (created or reused), one job run
    per pipeline step, the same packed environment and code as the cluster."""

    application_name: str = spec("recsys", doc="created if no live application has this name")
    release_label: Optional[str] = spec(None, doc="default: emr.release_label")
    execution_role_arn: Optional[str] = spec(
        None, doc="job runtime role (trusted by emr-serverless.amazonaws.com)"
    )
    image_uri: Optional[str] = spec(
        None, doc="ECR image based on the EMR Serverless image, with python3.11 (recommended)"
    )
    python: Optional[str] = spec(None, doc="interpreter in the image; default: emr.python")
    driver_cpu: str = spec("4 vCPU")
    driver_memory: str = spec("16 GB")
    executor_cpu: str = spec("4 vCPU")
    executor_memory: str = spec("16 GB")
    initial_drivers: int = spec(0, min=0, doc="pre-initialised (billed while started)")
    initial_executors: int = spec(0, min=0)
    max_cpu: str = spec("400 vCPU", doc="the application's maximum capacity")
    max_memory: str = spec("1600 GB")
    max_disk: str = spec("4000 GB")
    idle_stop_minutes: int = spec(15, min=1, max=10080, doc="auto-stop when idle")


@dataclass(frozen=True)
class EmrConfig:
    region: str = spec("us-east-1")
    release_label: str = spec("emr-7.13.0", doc="must ship the Spark that pyspark pins")
    code_prefix: Optional[str] = spec(
        None, doc="s3://bucket/prefix; packages go to <code_prefix>/<version>/"
    )
    log_uri: Optional[str] = spec(None, doc="s3:// prefix for cluster and step logs")
    cluster_name: str = spec("recsys")
    service_role: str = spec("EMR_DefaultRole")
    job_flow_role: str = spec("EMR_EC2_DefaultRole", doc="EC2 instance profile of the nodes")
    subnet_ids: list[str] = spec(factory=list, doc="fleets pick among all; groups use the first")
    ec2_key_name: Optional[str] = spec(None)
    instance_mode: str = spec("fleets", choices=("fleets", "groups"))
    primary: EmrNodesConfig = spec(factory=EmrNodesConfig)
    core: EmrCoreNodesConfig = spec(factory=EmrCoreNodesConfig)
    task: EmrTaskNodesConfig = spec(factory=EmrTaskNodesConfig)
    spot_timeout_minutes: int = spec(
        20, min=5, max=1440, doc="fleets: wait this long for Spot, then take on-demand"
    )
    managed_scaling: EmrScalingConfig = spec(factory=EmrScalingConfig)
    python: str = spec("/usr/bin/python3.11", doc="interpreter on the nodes (EMR 7 ships 3.11)")
    definitions_dir: str = spec(
        "emr", doc="cluster/ASL templates, classifications, bootstrap (relative to the repo)"
    )
    spark_defaults: dict = spec(
        factory=dict, doc="spark-defaults merged over emr/configurations.json"
    )
    action_on_failure: Optional[str] = spec(
        None,
        choices=("TERMINATE_CLUSTER", "CANCEL_AND_WAIT"),
        doc="default: TERMINATE_CLUSTER on a transient cluster, CANCEL_AND_WAIT on a running one",
    )
    idle_timeout_seconds: int = spec(
        3600, min=60, doc="auto-termination of an idle scheduled cluster (safety net)"
    )
    wait_delay_seconds: int = spec(
        30, min=1, max=600, doc="submit --wait / emr wait: seconds between two polls"
    )
    tags: dict[str, str] = spec(factory=lambda: {"project": "recsys"})
    schedule: EmrScheduleConfig = spec(factory=EmrScheduleConfig)
    encryption: EmrEncryptionConfig = spec(factory=EmrEncryptionConfig)
    serverless: EmrServerlessConfig = spec(factory=EmrServerlessConfig)
    extra: dict = spec(factory=dict, doc="further RunJobFlow request fields, merged on top")
