"""``recsys emr serverless submit|status|logs``: the pipeline as EMR Serverless job runs."""

from __future__ import annotations

import argparse
import datetime as dt

from recsys.emr.cli import (
    _aws_errors,
    _build_id,
    _common,
    _job_overrides,
    _layout,
    _load,
    _print_json,
)
from recsys.storage.warehouse import check_run_id


@_aws_errors
def cmd_serverless_submit(args: argparse.Namespace) -> int:
    from recsys.emr import aws, serverless

    cfg = _load(args, serverless=True)
    run_id = check_run_id(args.run_id or dt.datetime.now(dt.UTC).strftime("emr-%Y%m%d-%H%M%S"))
    layout = _layout(cfg, args)
    if args.dry_run:
        from recsys import steps as pipeline
        from recsys.emr import shapes

        requests = [
            serverless.job_run_request(
                cfg, layout, step, run_id, "<application id>", _job_overrides(args)
            )
            for step in pipeline.STEPS
        ]
        application = serverless.application_request(cfg)
        shapes.check_request("emr-serverless", "CreateApplication", application)
        _print_json({"create_application": application, "start_job_run": requests})
        return 0
    aws.require_package(cfg, layout)
    print(f"run {run_id} on EMR Serverless, code version {layout.version} from {layout.root}/")
    serverless.submit(cfg, layout, run_id, _job_overrides(args))
    print(f"run {run_id}: every step SUCCESS")
    return 0


@_aws_errors
def cmd_serverless_status(args: argparse.Namespace) -> int:
    from recsys.emr import serverless

    cfg = _load(args, serverless=True)
    state = serverless.status(cfg, args.run_id)
    if args.json:
        _print_json(state)
        return 0
    print(f"run {state['run_id']} on application {state['application_id']}:")
    for i, run in enumerate(state["job_runs"], 1):
        print(f"  [{i}] {run['name']}  {run['state']}  {run['id']}")
    return 0


@_aws_errors
def cmd_serverless_logs(args: argparse.Namespace) -> int:
    from recsys.emr import serverless

    cfg = _load(args, serverless=True)
    state = serverless.status(cfg, args.run_id)
    print(f"logs of run {state['run_id']} (job runs write them under {serverless.log_uri(cfg)}):")
    for run in state["job_runs"]:
        print(f"  {run['name']} [{run['state']}]: {run['logs']}")
        print(f"      aws s3 cp {run['logs']}SPARK_DRIVER/stderr.gz - | gunzip | tail -n 100")
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``submit``, ``status`` and ``logs`` under ``recsys emr serverless``."""
    serverless = parser.add_subparsers(dest="serverless_command", required=True)
    q = serverless.add_parser(
        "submit", help="every step as a job run, in order, each followed to its end"
    )
    _common(q)
    _build_id(q)
    q.add_argument("--run-id", help="default: emr-<UTC date and time>")
    q.add_argument("--dry-run", action="store_true", help="print the requests; call no AWS API")
    q.set_defaults(func=cmd_serverless_submit)
    for name, func, what in (
        ("status", cmd_serverless_status, "each job run's state"),
        ("logs", cmd_serverless_logs, "where each job run's logs are on S3"),
    ):
        q = serverless.add_parser(name, help=f"{what} (default: the newest run)")
        _common(q)
        q.add_argument("--run-id")
        if name == "status":
            q.add_argument("--json", action="store_true")
        q.set_defaults(func=func)
