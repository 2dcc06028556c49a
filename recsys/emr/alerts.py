"""The alert on a failed night: an EventBridge rule on the state machine's own status-change
events (FAILED, TIMED_OUT, ABORTED) whose target is the SNS topic ``emr.schedule.alert_topic_arn``.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from recsys.config import Config
from recsys.emr import shapes

ALERT_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


def rule_request(cfg: Config, state_machine_arn: str) -> dict[str, Any]:
    """``PutRule``: Step Functions' own status-change events of this state machine that
    mean a night did not publish."""
    pattern = {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": list(ALERT_STATUSES), "stateMachineArn": [state_machine_arn]},
    }
    return {
        "Name": cfg.emr.schedule.alert_rule_name,
        "EventPattern": json.dumps(pattern),
        "State": "ENABLED",
        "Description": "recsys nightly: an execution failed, timed out or was aborted",
    }


def targets_request(cfg: Config) -> dict[str, Any]:
    """``PutTargets``: the SNS topic, with a one-line message naming the execution."""
    return {
        "Rule": cfg.emr.schedule.alert_rule_name,
        "Targets": [
            {
                "Id": "recsys-alert-topic",
                "Arn": str(cfg.emr.schedule.alert_topic_arn),
                "InputTransformer": {
                    "InputPathsMap": {
                        "name": "$.detail.name",
                        "status": "$.detail.status",
                        "execution": "$.detail.executionArn",
                    },
                    "InputTemplate": '"recsys nightly <name>: <status> (<execution>)"',
                },
            }
        ],
    }


# --------------------------------------------------------------------------- AWS


def deploy(cfg: Config, state_machine_arn: str) -> str:
    """The EventBridge rule on the machine's FAILED/TIMED_OUT/ABORTED executions, targeting
    ``emr.schedule.alert_topic_arn`` (whose access policy must let events.amazonaws.com
    publish: ``emr/iam/alerts-topic.json``). ``PutRule`` creates or updates."""
    from recsys.emr.aws import EmrError, client

    events = client(cfg, "events")
    rule = rule_request(cfg, state_machine_arn)
    targets = targets_request(cfg)
    shapes.check_request("events", "PutRule", rule)
    shapes.check_request("events", "PutTargets", targets)
    rule_arn = events.put_rule(**rule)["RuleArn"]
    failed = events.put_targets(**targets).get("FailedEntryCount", 0)
    if failed:
        raise EmrError(f"alert rule {rule['Name']}: {failed} target(s) refused")
    return rule_arn


def describe(cfg: Config) -> dict[str, Any] | None:
    """The deployed rule and its targets (None when absent)."""
    from recsys.emr.aws import _not_found, client

    events = client(cfg, "events")
    name = cfg.emr.schedule.alert_rule_name
    try:
        rule = events.describe_rule(Name=name)
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    targets = events.list_targets_by_rule(Rule=name).get("Targets", [])
    return {
        "arn": rule["Arn"],
        "state": rule.get("State"),
        "pattern": json.loads(rule.get("EventPattern") or "{}"),
        "targets": [t["Arn"] for t in targets],
    }


def remove(cfg: Config) -> bool:
    """Delete the rule (its targets first); False when it was not there."""
    from recsys.emr.aws import client

    if describe(cfg) is None:
        return False
    events = client(cfg, "events")
    name = cfg.emr.schedule.alert_rule_name
    ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]]
    if ids:
        events.remove_targets(Rule=name, Ids=ids)
    events.delete_rule(Name=name)
    return True
