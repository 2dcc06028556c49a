"""Following and finding runs over moto's server: the newest cluster, ``submit --wait``."""

from __future__ import annotations

import pytest

from recsys import config
from recsys.emr import aws as emr_aws
from tests.support import REPO

from . import emr_moto
from .emr_moto import client

moto_endpoint, aws = emr_moto.moto_endpoint, emr_moto.aws
EMR_CONF = str(REPO / "conf" / "emr.yaml")


def _cluster(name: str, keep_alive: bool = True) -> str:
    return client("emr").run_job_flow(
        Name=name,
        ReleaseLabel="emr-7.13.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]


def test_latest_cluster_prefers_a_live_one_then_the_newest_finished(aws):
    cfg = config.load(EMR_CONF)
    with pytest.raises(emr_aws.EmrError, match="pass --cluster-id"):
        emr_aws.latest_cluster_id(cfg)
    live = _cluster("recsys-2026-03-01")
    _cluster("other-2026-03-02")  # not ours, even if newer
    finished = _cluster("recsys-2026-03-03")
    client("emr").terminate_job_flows(JobFlowIds=[finished])
    assert emr_aws.latest_cluster_id(cfg) == live
    client("emr").terminate_job_flows(JobFlowIds=[live])
    assert emr_aws.latest_cluster_id(cfg) == finished
