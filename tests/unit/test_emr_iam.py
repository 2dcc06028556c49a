"""The IAM policies in emr/iam/: real actions, complete for the state machine, one source for
the README. Offline: botocore's service models say which operations exist."""

from __future__ import annotations

import json

import botocore.session
import pytest

from recsys import config
from recsys.emr import definitions, iam
from tests.support import REPO

EMR_CONF = REPO / "conf" / "emr.yaml"

# IAM action prefix -> botocore service name
SERVICES = {
    "elasticmapreduce": "emr",
    "states": "stepfunctions",
    "scheduler": "scheduler",
    "events": "events",
    "sns": "sns",
    "kms": "kms",
    "emr-serverless": "emr-serverless",
    "iam": "iam",
    "s3": "s3",
}
# IAM actions that are not an API operation of the same name (the IAM Service Authorization
# Reference lists them): ListBucket authorises ListObjects(V2); PassRole guards passing a role.
NOT_OPERATIONS = {"s3:ListBucket", "iam:PassRole", "sts:AssumeRole"}

# What each Step Functions integration calls (the Step Functions guide, "IAM policies for
# Amazon EMR"), plus what fields of the createCluster request need besides RunJobFlow.
INTEGRATION_ACTIONS = {
    "elasticmapreduce:createCluster": {
        "elasticmapreduce:RunJobFlow",
        "elasticmapreduce:DescribeCluster",
        "elasticmapreduce:TerminateJobFlows",
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
    },
    "elasticmapreduce:addStep": {
        "elasticmapreduce:AddJobFlowSteps",
        "elasticmapreduce:DescribeStep",
        "elasticmapreduce:CancelSteps",
    },
    "aws-sdk:sfn:listExecutions": {"states:ListExecutions"},  # the guard
    # "IAM policies for Amazon EMR Serverless" (startJobRun, .sync)
    "emr-serverless:startJobRun": {
        "emr-serverless:StartJobRun",
        "emr-serverless:GetJobRun",
        "emr-serverless:CancelJobRun",
        "iam:PassRole",
    },
    "elasticmapreduce:terminateCluster": {
        "elasticmapreduce:TerminateJobFlows",
        "elasticmapreduce:DescribeCluster",
    },
}
CREATE_FIELD_ACTIONS = {
    "AutoTerminationPolicy": "elasticmapreduce:PutAutoTerminationPolicy",
    "ManagedScalingPolicy": "elasticmapreduce:PutManagedScalingPolicy",
    "Tags": "elasticmapreduce:AddTags",
}
SYNC_ACTIONS = {"events:PutTargets", "events:PutRule", "events:DescribeRule"}


def emr_cfg(*overrides: str) -> config.Config:
    return config.load(str(EMR_CONF), list(overrides))


def allowed_actions(policy: dict) -> set[str]:
    return {
        action
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in iam._as_list(statement["Action"])
    }


def all_policies(cfg) -> dict[str, dict]:
    out = {}
    for who in iam.PRINCIPALS:
        out[who.policy_file] = iam.load_policy(cfg, who.name)
        if who.trust_file:
            out[who.trust_file] = iam.load_policy(cfg, who.name, trust=True)
    return out


def test_readme_lists_are_generated_from_the_policy_files():
    cfg = emr_cfg()
    readme = (REPO / "emr" / "README.md").read_text()
    section = iam.readme_section(readme)
    assert section is not None, "emr/README.md lost its generated IAM section"
    assert section == iam.markdown(cfg), "run: recsys emr iam --readme emr/README.md"
    # and the generated text does carry each file's actions
    for name, policy in all_policies(cfg).items():
        if ".trust." not in name:
            for action in allowed_actions(policy):
                assert f"`{action}`" in section, (name, action)


def test_readme_update_rewrites_a_stale_section(tmp_path):
    cfg = emr_cfg()
    stale = tmp_path / "README.md"
    stale.write_text(f"intro\n{iam.README_BEGIN}\n- old list\n{iam.README_END}\ntail\n")
    assert iam.update_readme(cfg, stale) is True
    text = stale.read_text()
    assert "old list" not in text and text.startswith("intro\n") and text.endswith("tail\n")
    assert iam.readme_section(text) == iam.markdown(cfg)
    assert iam.update_readme(cfg, stale) is False
    (tmp_path / "bare.md").write_text("no markers\n")
    with pytest.raises(iam.IamError, match="no section"):
        iam.update_readme(cfg, tmp_path / "bare.md")


def test_every_action_is_an_operation_of_its_service():
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for name, policy in all_policies(emr_cfg()).items():
        for action in allowed_actions(policy):
            if action in NOT_OPERATIONS:
                continue
            prefix, operation = action.split(":")
            assert prefix in SERVICES, (name, action)
            service = SERVICES[prefix]
            if service not in operations:
                operations[service] = set(session.get_service_model(service).operation_names)
            assert operation in operations[service], f"{name}: {action} is no {service} operation"


@pytest.mark.parametrize("mode", ["fleets", "groups", "serverless"])
def test_state_machine_role_allows_what_each_task_needs(mode):
    from recsys.emr import serverless

    if mode == "serverless":
        cfg = emr_cfg()
        asl = serverless.state_machine_definition(cfg, definitions.layout_for(cfg, "v1"), "app1")
    else:
        cfg = emr_cfg(f"emr.instance_mode={mode}")
        asl = definitions.state_machine_definition(cfg, definitions.layout_for(cfg, "v1"))
    granted = allowed_actions(iam.load_policy(cfg, "state-machine"))
    needed: set[str] = set()
    for state in asl["States"].values():
        if state["Type"] != "Task":
            continue
        service, _, call = state["Resource"].removeprefix("arn:aws:states:::").partition(":")
        integration, _, pattern = call.partition(".")
        needed |= INTEGRATION_ACTIONS[f"{service}:{integration}"]
        if pattern == "sync":
            needed |= SYNC_ACTIONS
        if integration == "createCluster":
            needed |= {a for f, a in CREATE_FIELD_ACTIONS.items() if f in state["Parameters"]}
    if mode != "serverless":
        assert "elasticmapreduce:PutAutoTerminationPolicy" in needed  # the cluster sets one
    assert needed - granted == set()


def test_filled_policies_name_the_configured_buckets_and_account():
    cfg = emr_cfg("warehouse.dir=s3://other-warehouse/w")
    filled = iam.rendered(cfg)
    assert set(filled) == set(all_policies(cfg)) - {"alerts-topic.json"}  # no topic configured
    text = json.dumps(filled)
    assert "${" not in text
    nodes = json.dumps(filled["nodes.json"])
    assert "arn:aws:s3:::other-warehouse/w/*" in nodes and "arn:aws:s3:::other-warehouse" in nodes
    assert "arn:aws:iam::123456789012:role/EMR_EC2_DefaultRole" in json.dumps(
        filled["state-machine.json"]
    )
    trust = filled["state-machine.trust.json"]["Statement"][0]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}


def test_policies_without_an_account_name_the_key():
    cfg = emr_cfg(
        "emr.schedule.state_machine_role_arn=null", "emr.schedule.scheduler_role_arn=null"
    )
    with pytest.raises(iam.IamError, match="emr.schedule.state_machine_role_arn"):
        iam.rendered(cfg)


def test_iam_command_writes_the_filled_files(tmp_path, capsys):
    from recsys import cli

    out = tmp_path / "iam"
    assert cli.main(["emr", "iam", "--conf", str(EMR_CONF), "--out", str(out)]) == 0
    written = {p.name for p in out.iterdir()}
    assert written == set(all_policies(emr_cfg())) - {"alerts-topic.json"}
    policy = json.loads((out / "scheduler.json").read_text())
    assert policy["Statement"][0]["Resource"] == (
        "arn:aws:states:us-east-1:123456789012:stateMachine:recsys-nightly"
    )


def test_a_failed_application_is_not_attempted_again():
    """A step that failed for a fixed reason (a quality gate) must not rerun by itself."""
    cfg = emr_cfg("emr.instance_mode=groups")
    configs = definitions.configurations(cfg)
    defaults = next(c for c in configs if c["Classification"] == "spark-defaults")["Properties"]
    assert defaults["spark.yarn.maxAppAttempts"] == "1"
