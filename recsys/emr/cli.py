"""``recsys emr ...``: package, submit, status, logs, render, iam, schedule deploy|show|remove.

Every command loads and validates the config (:func:`recsys.emr.checks.validate`) before
it makes any AWS client, so a bad config fails fast with the key named and no request sent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recsys import config as config_mod
from recsys.emr import checks
from recsys.storage.warehouse import check_run_id

DEFAULT_CONF = "conf/emr.yaml"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf", default=DEFAULT_CONF, help="config YAML (local path)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable); keys outside emr.* also go to every step",
    )


def _build_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--build-id", help="code version to use (default: git short sha, -dirty if changed)"
    )


def _load(
    args: argparse.Namespace, schedule: bool = False, serverless: bool = False
) -> config_mod.Config:
    problem = checks.conf_file_problem(args.conf)
    if problem:
        raise checks.EmrConfigError([problem])
    cfg = config_mod.load(args.conf, args.set)
    return checks.validate(cfg, schedule=schedule, serverless=serverless)


def _layout(cfg: config_mod.Config, args: argparse.Namespace):
    from recsys.emr import definitions, package

    version = checks.check_build_id(args.build_id) if args.build_id else package.git_version()
    return definitions.layout_for(cfg, version, Path(args.conf).name)


def _job_overrides(args: argparse.Namespace) -> tuple[str, ...]:
    """``--set`` items for the jobs: emr.* shapes the cluster, the rest reaches every step."""
    return tuple(item for item in args.set if not item.strip().startswith("emr."))


def _aws_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report AWS and packaging failures as one line and exit 1 (config errors exit 2)."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        from recsys.emr.aws import EmrError
        from recsys.emr.iam import IamError
        from recsys.emr.package import PackageError
        from recsys.emr.shapes import RequestShapeError
        from recsys.emr.templates import TemplateError

        try:
            return func(args)
        except (EmrError, IamError, PackageError, RequestShapeError, TemplateError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except (ClientError, BotoCoreError) as exc:
            print(f"error: AWS: {exc}", file=sys.stderr)
            return 1

    return wrapper


def _print_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=2, default=str)
    print()


# --------------------------------------------------------------------------- commands


@_aws_errors
def cmd_package(args: argparse.Namespace) -> int:
    from recsys.emr import aws, package

    cfg = _load(args)
    layout = _layout(cfg, args)
    wheel_dir = Path(args.wheel_dir) if args.wheel_dir else None
    files = package.build(cfg, Path(args.conf), layout.version, wheel_dir=wheel_dir)
    uris = package.upload(
        aws.client(cfg, "s3"),
        layout,
        files,
        force=args.force,
        kms_key=cfg.emr.encryption.s3_kms_key,
    )
    for uri in uris:
        print(f"uploaded {uri}")
    print(f"packaged version {layout.version} at {layout.root}/")
    return 0


@_aws_errors
def cmd_submit(args: argparse.Namespace) -> int:
    from recsys.emr import aws, definitions, shapes

    cfg = _load(args)
    run_id = check_run_id(args.run_id or dt.datetime.now(dt.UTC).strftime("emr-%Y%m%d-%H%M%S"))
    layout = _layout(cfg, args)
    overrides = _job_overrides(args)
    if args.dry_run:
        if args.cluster_id:
            steps = definitions.pipeline_steps(
                layout, run_id, definitions.action_on_failure(cfg, False), overrides, cfg.emr.python
            )
            request = {"JobFlowId": args.cluster_id, "Steps": steps}
            shapes.check_request("emr", "AddJobFlowSteps", request)
        else:
            request = definitions.transient_cluster_request(cfg, layout, run_id, overrides)
            shapes.check_request("emr", "RunJobFlow", request)
        _print_json(request)
        return 0
    for note in aws.preflight(cfg, args.cluster_id):
        print(note, file=sys.stderr)  # stdout's first line stays the run's
    aws.require_package(cfg, layout)
    done = aws.submit(cfg, layout, run_id, args.cluster_id, overrides)
    kind = "transient cluster (terminates after the last step)" if done.transient else "cluster"
    print(f"run {run_id}: {len(done.step_ids)} step(s) on {kind} {done.cluster_id}")
    print(f"code version {layout.version} from {layout.root}/")
    if args.wait:
        from recsys.emr import follow

        follow.follow(cfg, done.cluster_id, done.step_ids, done.transient)
        print(f"run {run_id}: every step COMPLETED")
        return 0
    print("follow it with:")
    for command in aws.follow_commands(cfg, done.cluster_id):
        print(f"  {command}")
    return 0


@_aws_errors
def cmd_wait(args: argparse.Namespace) -> int:
    from recsys.emr import aws, follow

    cfg = _load(args)
    cluster_id = args.cluster_id or aws.latest_cluster_id(cfg)
    pending, transient = follow.unfinished(cfg, cluster_id)
    print(f"cluster {cluster_id}: waiting for {len(pending)} step(s)")
    follow.follow(cfg, cluster_id, pending, transient)
    return 0


@_aws_errors
def cmd_status(args: argparse.Namespace) -> int:
    from recsys.emr import aws

    cfg = _load(args)
    cluster_id = args.cluster_id or aws.latest_cluster_id(cfg)
    state = aws.status(cfg, cluster_id)
    if args.json:
        _print_json(state)
        return 0
    reason = f" ({state['reason']})" if state["reason"] else ""
    print(f"cluster {cluster_id} {state['name']}: {state['state']}{reason}")
    width = max([len(s["name"]) for s in state["steps"]] + [4])
    for i, step in enumerate(state["steps"], 1):
        why = f"  {step['reason']}" if step["reason"] else ""
        print(f"  [{i}] {step['name']:<{width}}  {step['state']:<11} {step['id']}{why}")
    return 0


@_aws_errors
def cmd_logs(args: argparse.Namespace) -> int:
    from recsys.emr import aws

    cfg = _load(args)
    cluster_id = args.cluster_id or aws.latest_cluster_id(cfg)
    steps = aws.status(cfg, cluster_id)["steps"]
    if args.step:
        steps = [s for s in steps if s["name"].split(" ")[0] == args.step]
    where = aws.log_locations(cfg, cluster_id, steps)
    print(f"logs of cluster {cluster_id} (EMR copies them to S3 about every 5 minutes):")
    print(f"  all:        {where['cluster']}")
    print(f"  bootstrap:  {where['bootstrap']}")
    print(f"  containers: {where['containers']}  (driver and executor logs, cluster mode)")
    for step in where["steps"]:
        print(f"  step {step['name']} [{step['state']}]: {step['prefix']}")
        print(f"      aws s3 cp {step['stderr']} - | gunzip | tail -n 100")
    return 0


@_aws_errors
def cmd_render(args: argparse.Namespace) -> int:
    from recsys.emr import definitions, shapes

    cfg = _load(args, schedule=True)
    run_id = check_run_id(args.run_id)
    layout = _layout(cfg, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cluster = definitions.transient_cluster_request(cfg, layout, run_id, _job_overrides(args))
    shapes.check_request("emr", "RunJobFlow", cluster)
    docs = {
        "run-job-flow.json": cluster,
        "state-machine.asl.json": definitions.state_machine_definition(
            cfg, layout, _job_overrides(args)
        ),
        "schedule.json": definitions.schedule_request(
            cfg,
            f"arn:aws:states:{cfg.emr.region}:<account>:stateMachine:"
            f"{cfg.emr.schedule.state_machine_name}",
        ),
    }
    from recsys.emr import serverless

    docs["state-machine-serverless.asl.json"] = serverless.state_machine_definition(
        cfg, layout, "<application id>", _job_overrides(args)
    )
    for name, doc in docs.items():
        (out / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out / name}")
    # the bootstrap script the cluster runs, as uploaded: a reader can check it installs nothing
    bootstrap = definitions.definitions_dir(cfg) / definitions.BOOTSTRAP
    (out / definitions.BOOTSTRAP).write_bytes(bootstrap.read_bytes())
    print(f"wrote {out / definitions.BOOTSTRAP}")
    return 0


@_aws_errors
def cmd_iam(args: argparse.Namespace) -> int:
    from recsys.emr import iam

    cfg = _load(args)
    if args.readme:
        readme = Path(args.readme)
        changed = iam.update_readme(cfg, readme)
        print(f"{readme}: {'updated' if changed else 'already matches emr/iam/*.json'}")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, policy in iam.rendered(cfg).items():
        (out / name).write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


@_aws_errors
def cmd_security_configuration(args: argparse.Namespace) -> int:
    from recsys.emr import aws, security

    cfg = _load(args)
    doc = security.security_configuration(cfg)
    if not args.create:
        _print_json(doc)
        return 0
    name = cfg.emr.encryption.security_configuration
    if not name:
        raise checks.EmrConfigError(
            ["emr.encryption.security_configuration: missing; name the configuration to create"]
        )
    print(f"security configuration {name}: {aws.ensure_security_configuration(cfg, name, doc)}")
    return 0


@_aws_errors
def cmd_schedule_deploy(args: argparse.Namespace) -> int:
    from recsys.emr import aws, definitions

    cfg = _load(args, schedule=True)
    layout = _layout(cfg, args)
    if args.dry_run:
        _print_json(definitions.state_machine_definition(cfg, layout, _job_overrides(args)))
        return 0
    if cfg.emr.schedule.target == "cluster":
        for note in aws.preflight(cfg):
            print(note, file=sys.stderr)
    aws.require_package(cfg, layout)
    done = aws.deploy_schedule(cfg, layout, _job_overrides(args))
    sched = cfg.emr.schedule
    print(f"ValidateStateMachineDefinition: {done['validation']}")
    print(f"state machine {done['state_machine']}: {done['state_machine_arn']}")
    print(f"schedule {done['schedule']}: {done['schedule_arn']}")
    print(
        f"runs code version {layout.version} at {sched.cron} ({sched.timezone}); "
        "each run's id is its date"
    )
    if "alert_rule_arn" in done:
        print(
            f"alerts: rule {done['alert_rule_arn']} -> {sched.alert_topic_arn} "
            "(FAILED, TIMED_OUT, ABORTED)"
        )
    else:
        print("alerts: none (set emr.schedule.alert_topic_arn to be told of a failed night)")
    print("start one now with:")
    print(f"  recsys emr schedule run --conf {args.conf} --date {dt.date.today().isoformat()}")
    return 0


@_aws_errors
def cmd_schedule_run(args: argparse.Namespace) -> int:
    from recsys.emr import aws

    cfg = _load(args, schedule=True)
    started = aws.start_run(cfg, args.date, args.from_step, args.source_run)
    where = (
        f" from step {started['from_step']} of run {started['source_run']}"
        if args.from_step
        else ""
    )
    print(f"started run {started['run_id']}{where}: {started['execution_arn']}")
    return 0


@_aws_errors
def cmd_schedule_show(args: argparse.Namespace) -> int:
    from recsys.emr import aws

    cfg = _load(args, schedule=True)
    shown = aws.show_schedule(cfg)
    if args.json:
        _print_json(shown)
        return 0
    machine, schedule = shown["state_machine"], shown["schedule"]
    if machine:
        print(
            f"state machine {machine['arn']} ({machine['status']}), code version "
            f"{machine['code_version']}"
        )
        print(f"  states: {', '.join(machine['states'])}")
        for run in shown.get("executions", []):
            print(f"  execution {run['name']}: {run['status']} (started {run['start']})")
    else:
        print(f"state machine {cfg.emr.schedule.state_machine_name}: not deployed")
    if schedule:
        print(
            f"schedule {schedule['arn']}: {schedule['expression']} {schedule['timezone']} "
            f"{schedule['state']} -> {schedule['target']}"
        )
    else:
        print(f"schedule {cfg.emr.schedule.schedule_name}: not deployed")
    alerts = shown["alerts"]
    if alerts:
        print(f"alerts {alerts['arn']} ({alerts['state']}) -> {', '.join(alerts['targets'])}")
    else:
        print(f"alerts {cfg.emr.schedule.alert_rule_name}: not deployed")
    return 0


@_aws_errors
def cmd_schedule_remove(args: argparse.Namespace) -> int:
    from recsys.emr import aws

    cfg = _load(args, schedule=True)
    removed = aws.remove_schedule(cfg)
    for part, name in (
        ("schedule", cfg.emr.schedule.schedule_name),
        ("state_machine", cfg.emr.schedule.state_machine_name),
        ("alerts", cfg.emr.schedule.alert_rule_name),
    ):
        print(f"{part.replace('_', ' ')} {name}: {'removed' if removed[part] else 'was not there'}")
    return 0


# --------------------------------------------------------------------------- parser


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``emr`` subcommands to the ``recsys emr`` parser's subparsers."""
    p = sub.add_parser(
        "package", help="build the packed environment, code zip, jobs and conf; upload a version"
    )
    _common(p)
    _build_id(p)
    p.add_argument("--force", action="store_true", help="replace an existing version prefix")
    p.add_argument(
        "--wheel-dir",
        default=os.environ.get("RECSYS_EMR_WHEEL_DIR"),
        help="take the environment's wheels only from this folder (pip --no-index "
        "--find-links; default $RECSYS_EMR_WHEEL_DIR, else the package index)",
    )
    p.set_defaults(func=cmd_package)

    p = sub.add_parser("submit", help="run the pipeline on a transient (or running) cluster")
    _common(p)
    _build_id(p)
    p.add_argument("--run-id", help="default: emr-<UTC date and time>")
    p.add_argument("--cluster-id", help="add the steps to this running cluster instead")
    p.add_argument("--dry-run", action="store_true", help="print the request; call no AWS API")
    p.add_argument(
        "--wait",
        action="store_true",
        help="follow every step (and a transient cluster's end); exit 1 when one fails",
    )
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("wait", help="follow a cluster's unfinished steps to the end")
    _common(p)
    p.add_argument("--cluster-id", help="default: the newest recsys cluster")
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("status", help="each step's state (default: the newest recsys cluster)")
    _common(p)
    p.add_argument("--cluster-id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("logs", help="where the cluster's and each step's logs are on S3")
    _common(p)
    p.add_argument("--cluster-id")
    p.add_argument("--step", help="only this pipeline step, e.g. ingest")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("render", help="write the cluster, state machine and schedule requests")
    _common(p)
    _build_id(p)
    p.add_argument("--run-id", default="2026-01-01")
    p.add_argument("--out", default="build/emr")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("iam", help="the IAM policies of emr/iam/, filled from the config")
    _common(p)
    p.add_argument("--out", default="build/emr/iam", help="folder for the filled policies")
    p.add_argument("--readme", metavar="PATH", help="instead, regenerate the lists in this README")
    p.set_defaults(func=cmd_iam)

    p = sub.add_parser(
        "security-configuration",
        help="the EMR security configuration emr.encryption describes (print, or --create)",
    )
    _common(p)
    p.add_argument(
        "--create", action="store_true", help="create it as emr.encryption.security_configuration"
    )
    p.set_defaults(func=cmd_security_configuration)

    from recsys.emr import cli_serverless

    cli_serverless.register(sub.add_parser("serverless", help="run the pipeline on EMR Serverless"))
    _register_schedule(sub)


def _register_schedule(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="the nightly Step Functions + EventBridge schedule")
    schedule = p.add_subparsers(dest="schedule_command", required=True)
    q = schedule.add_parser("deploy", help="create or update the state machine and schedule")
    _common(q)
    _build_id(q)
    q.add_argument("--dry-run", action="store_true", help="print the ASL; call no AWS API")
    q.set_defaults(func=cmd_schedule_deploy)
    q = schedule.add_parser("show", help="what is deployed, and the last executions")
    _common(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_schedule_show)
    q = schedule.add_parser(
        "run", help="start the state machine for one date now (a re-run gets <date>-a<N>)"
    )
    _common(q)
    q.add_argument("--date", required=True, help="the night to run, e.g. 2026-11-24")
    q.add_argument("--from-step", help="start at this pipeline step (copies the source run)")
    q.add_argument("--source-run", help="with --from-step: the run to copy (default: the date)")
    q.set_defaults(func=cmd_schedule_run)
    q = schedule.add_parser("remove", help="delete the schedule, the state machine, the alerts")
    _common(q)
    q.set_defaults(func=cmd_schedule_remove)
