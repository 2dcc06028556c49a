"""The ``Instances`` block of ``RunJobFlow`` (fleets or groups, within RunJobFlow's capacity
rules) and the managed scaling limits, from ``emr.primary``/``core``/``task``."""

from __future__ import annotations

from typing import Any

from recsys.config import Config, EmrNodesConfig


def _ebs(nodes: EmrNodesConfig) -> dict[str, Any] | None:
    if nodes.ebs_gb <= 0:
        return None
    return {
        "EbsBlockDeviceConfigs": [
            {
                "VolumeSpecification": {"VolumeType": "gp3", "SizeInGB": nodes.ebs_gb},
                "VolumesPerInstance": 1,
            }
        ],
        "EbsOptimized": True,
    }


def _with_ebs(item: dict[str, Any], nodes: EmrNodesConfig) -> dict[str, Any]:
    ebs = _ebs(nodes)
    if ebs:
        item["EbsConfiguration"] = ebs
    return item


def _wants_task_nodes(cfg: Config) -> bool:
    """Whether the request carries task nodes.

    A fleet never goes out with a capacity of 0 (``InstanceFleetConfig``: "At least one of
    TargetSpotCapacity and TargetOnDemandCapacity should be greater than 0"), so with fleets a
    task fleet exists only when ``emr.task.count > 0``, and that fleet is how managed scaling
    gets task capacity: it resizes the fleets the cluster has. The EMR guide says scaling
    creates a Spot task *group* when needed, nothing like it for fleets, so the checks ask for
    ``emr.task.count >= 1`` with fleets whenever ``max_units > max_core_units`` lets scaling put
    capacity on task nodes. With groups, a task group of 0 instances fixes the market and the
    instance type of the nodes scaling adds."""
    if cfg.emr.task.count > 0:
        return True
    scaling = cfg.emr.managed_scaling
    return (
        cfg.emr.instance_mode == "groups"
        and scaling.enabled
        and scaling.max_units > scaling.max_core_units
    )


def _fleet(cfg: Config, name: str, fleet_type: str, nodes: EmrNodesConfig) -> dict[str, Any]:
    """One fleet with exactly one capacity field: Spot or on-demand, never the other at 0 (a
    MASTER fleet must name only one, of value 1; ``emr.primary.count`` is checked to be 1)."""
    spot = nodes.market == "SPOT"
    fleet: dict[str, Any] = {
        "Name": name,
        "InstanceFleetType": fleet_type,
        ("TargetSpotCapacity" if spot else "TargetOnDemandCapacity"): nodes.count,
        "InstanceTypeConfigs": [
            _with_ebs({"InstanceType": t, "WeightedCapacity": 1}, nodes)
            for t in nodes.instance_types
        ],
    }
    if spot:
        fleet["LaunchSpecifications"] = {
            "SpotSpecification": {
                "TimeoutDurationMinutes": cfg.emr.spot_timeout_minutes,
                "TimeoutAction": "SWITCH_TO_ON_DEMAND",
                "AllocationStrategy": "price-capacity-optimized",
            }
        }
    else:
        fleet["LaunchSpecifications"] = {
            "OnDemandSpecification": {"AllocationStrategy": "lowest-price"}
        }
    return fleet


def _group(name: str, role: str, nodes: EmrNodesConfig) -> dict[str, Any]:
    return _with_ebs(
        {
            "Name": name,
            "InstanceRole": role,
            "Market": nodes.market,
            "InstanceType": nodes.instance_types[0],
            "InstanceCount": nodes.count,
        },
        nodes,
    )


def instances(cfg: Config, keep_alive: bool) -> dict[str, Any]:
    """The ``Instances`` block: primary on-demand, core and task on Spot (by default)."""
    emr = cfg.emr
    out: dict[str, Any] = {
        "KeepJobFlowAliveWhenNoSteps": keep_alive,
        "TerminationProtected": False,
    }
    if emr.instance_mode == "fleets":
        fleets = [
            _fleet(cfg, "primary", "MASTER", emr.primary),
            _fleet(cfg, "core", "CORE", emr.core),
        ]
        if _wants_task_nodes(cfg):
            fleets.append(_fleet(cfg, "task", "TASK", emr.task))
        out["InstanceFleets"] = fleets
        if emr.subnet_ids:
            out["Ec2SubnetIds"] = list(emr.subnet_ids)
    else:
        groups = [
            _group("primary", "MASTER", emr.primary),
            _group("core", "CORE", emr.core),
        ]
        if _wants_task_nodes(cfg):
            groups.append(_group("task", "TASK", emr.task))
        out["InstanceGroups"] = groups
        if emr.subnet_ids:
            out["Ec2SubnetId"] = emr.subnet_ids[0]
    if emr.ec2_key_name:
        out["Ec2KeyName"] = emr.ec2_key_name
    return out


def managed_scaling(cfg: Config) -> dict[str, Any] | None:
    scaling = cfg.emr.managed_scaling
    if not scaling.enabled:
        return None
    unit = "InstanceFleetUnits" if cfg.emr.instance_mode == "fleets" else "Instances"
    return {
        "ComputeLimits": {
            "UnitType": unit,
            "MinimumCapacityUnits": scaling.min_units,
            "MaximumCapacityUnits": scaling.max_units,
            "MaximumOnDemandCapacityUnits": scaling.max_on_demand_units,
            "MaximumCoreCapacityUnits": scaling.max_core_units,
        }
    }
