"""Follow a run to its end with boto3's EMR waiters (``step_complete`` for each step in order,
``cluster_terminated`` for a transient cluster): ``submit --wait`` and ``recsys emr wait``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recsys.config import Config
from recsys.emr.aws import EmrError, client, status


def _waiter_config(cfg: Config, timeout_seconds: int) -> dict[str, int]:
    delay = cfg.emr.wait_delay_seconds
    return {"Delay": delay, "MaxAttempts": max(1, -(-timeout_seconds // delay))}


def follow(
    cfg: Config,
    cluster_id: str,
    step_ids: list[str],
    transient: bool,
    log: Callable[[str], None] = print,
) -> None:
    """Wait for each step in order with boto3's ``step_complete`` waiter, then (a transient
    cluster) for ``cluster_terminated``. Each step may take ``emr.schedule.step_timeout_seconds``,
    polled every ``emr.wait_delay_seconds``. Raise :class:`EmrError` naming the step that failed
    (or timed out) and where its logs are."""
    from botocore.exceptions import WaiterError

    emr = client(cfg, "emr")
    steps = emr.get_waiter("step_complete")
    for i, step_id in enumerate(step_ids, 1):
        try:
            steps.wait(
                ClusterId=cluster_id,
                StepId=step_id,
                WaiterConfig=_waiter_config(cfg, cfg.emr.schedule.step_timeout_seconds),
            )
        except WaiterError as exc:
            step = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
            state = step["Status"]["State"]
            details = step["Status"].get("FailureDetails") or {}
            why = details.get("Reason") or details.get("Message") or str(exc.last_response or "")
            short = step["Name"].split(" ")[0]
            ended = "did not finish in time" if state in ("PENDING", "RUNNING") else state
            raise EmrError(
                f"step {i}/{len(step_ids)} {step['Name']} {ended} ({why}); the later steps do "
                f"not run. Logs: recsys emr logs --cluster-id {cluster_id} --step {short}"
            ) from None
        log(f"[{i}/{len(step_ids)}] {_step_label(emr, cluster_id, step_id)}: COMPLETED")
    if not transient:
        return
    try:
        emr.get_waiter("cluster_terminated").wait(
            ClusterId=cluster_id,
            WaiterConfig=_waiter_config(cfg, cfg.emr.schedule.cluster_timeout_seconds),
        )
    except WaiterError:
        state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]
        raise EmrError(
            f"cluster {cluster_id} is {state['State']} "
            f"({state.get('StateChangeReason', {}).get('Message', '')}), not TERMINATED"
        ) from None
    log(f"cluster {cluster_id}: TERMINATED")


def _step_label(emr: Any, cluster_id: str, step_id: str) -> str:
    return emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]["Name"]


def unfinished(cfg: Config, cluster_id: str) -> tuple[list[str], bool]:
    """The step ids of ``cluster_id`` still to wait for, in order, and whether the cluster
    terminates by itself when they are done (``AutoTerminate``)."""
    state = status(cfg, cluster_id)
    cluster = client(cfg, "emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    pending = [s["id"] for s in state["steps"] if s["state"] in ("PENDING", "RUNNING")]
    failed = [s for s in state["steps"] if s["state"] in ("FAILED", "CANCELLED", "INTERRUPTED")]
    if failed:
        step = failed[0]
        raise EmrError(f"step {step['name']} is {step['state']} ({step['reason']})")
    return pending, bool(cluster.get("AutoTerminate"))
