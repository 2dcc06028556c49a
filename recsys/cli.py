"""The ``recsys`` command: one entry point with a subcommand per task."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from recsys import config as config_mod
from recsys.emr import cli as emr_cli
from recsys.errors import JobFailed, StorageError, WarehouseError
from recsys.steps import STEPS, run_steps
from recsys.steps.job import DEFAULT_CONF, add_job_arguments, load_config, run_job
from recsys.storage import retention
from recsys.storage.warehouse import Warehouse, check_run_id


def _cmd_sample_data(args: argparse.Namespace) -> int:
    # Imported here: sampledata is a development tool, not shipped to the cluster with recsys.
    import sampledata

    try:
        size = (
            sampledata.preset_for_triplets(args.triplets, args.size) if args.triplets else args.size
        )
        planted = sampledata.generate(args.out, size=size, seed=args.seed, gzip=args.gzip)
    except ValueError as exc:  # a size that cannot be scaled, a negative seed
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {planted['size']} sample data to {args.out} "
        f"({planted['triplet_lines']} triplet lines, seed {args.seed})"
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    run_id = check_run_id(args.run_id or dt.datetime.now(dt.UTC).strftime("local-%Y%m%d-%H%M%S"))
    names = args.steps.split(",") if args.steps else None
    if names:
        unknown = sorted(set(names) - {s.name for s in STEPS})
        if unknown:
            known = ", ".join(s.name for s in STEPS)
            bad = ", ".join(unknown)
            raise config_mod.ConfigError(f"--steps: unknown {bad}; steps are {known}")
    from recsys.session import build_session

    print(f"run {run_id}: warehouse {cfg.warehouse.dir}, input {cfg.input.dir_for(run_id)}")
    spark = build_session(cfg)
    try:
        run_steps(spark, cfg, run_id, names, conf_path=args.conf)
    finally:
        spark.stop()
    wh = Warehouse.from_config(cfg)
    print(f"tables: {wh.run_uri(run_id)}")
    print(f"latest published run: {wh.latest_run_id()}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    json.dump(cfg.to_dict(), sys.stdout, indent=2)
    print()
    return 0


def viewer_app() -> Path:
    """The viewer's ``app.py``, found beside the package (not in the working directory)."""
    return Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"


def viewer_command(
    warehouse: str, port: int | None = None, require_login: bool = False, allow: str | None = None
) -> list[str]:
    """The ``streamlit run`` command line of ``recsys viewer``."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(viewer_app())]
    if port:
        cmd += ["--server.port", str(port)]
    if "://" not in warehouse:  # a local folder: absolute, since streamlit may change cwd
        warehouse = os.path.abspath(warehouse)
    app_args = ["--warehouse", warehouse]
    app_args += ["--require-login"] if require_login else []
    app_args += ["--allow", allow] if allow else []
    return [*cmd, "--", *app_args]


def _cmd_viewer(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("streamlit") is None:
        print(
            "error: streamlit is not installed (pip install -r requirements.txt)", file=sys.stderr
        )
        return 2
    if not viewer_app().is_file():
        print(f"error: the viewer is missing at {viewer_app()}", file=sys.stderr)
        return 2
    command = viewer_command(args.warehouse, args.port, args.require_login, args.allow)
    return subprocess.call(command)


def _runs_target(args: argparse.Namespace) -> tuple[Warehouse, config_mod.Config]:
    """The warehouse of ``recsys runs``: ``--warehouse`` (with the built-in defaults unless
    ``--conf`` is given too) or the config's ``warehouse.dir``."""
    if args.warehouse and not args.conf:
        cfg = config_mod.from_dict(config_mod.apply_overrides({}, args.set))
    else:
        cfg = config_mod.load(args.conf or DEFAULT_CONF, args.set)
    return Warehouse(args.warehouse or cfg.warehouse.dir, cfg.storage.spark_s3_scheme), cfg


def _cmd_runs_list(args: argparse.Namespace) -> int:
    wh, _ = _runs_target(args)
    try:
        runs = retention.scan(wh)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not runs:
        print(f"no runs in {wh.runs_uri()}")
        return 0
    for line in retention.format_runs(runs):
        print(line)
    return 0


def _cmd_runs_prune(args: argparse.Namespace) -> int:
    wh, cfg = _runs_target(args)
    keep = cfg.warehouse.retention.keep if args.keep is None else args.keep
    if keep < 1:
        raise config_mod.ConfigError(f"--keep: expected at least 1, got {keep}")
    policy = retention.Policy(
        keep, cfg.warehouse.retention.min_age_days, cfg.warehouse.retention.in_progress_hours
    )
    command = ["recsys", "runs", "prune", "--keep", str(keep)]
    command += ["--conf", args.conf] if args.conf else []
    command += ["--warehouse", args.warehouse] if args.warehouse else []
    by = {"command": " ".join(command + [f"--set {s}" for s in args.set]), **_who()}
    try:
        decisions = retention.plan(retention.scan(wh), policy, dt.datetime.now(dt.UTC))
        for line in retention.format_plan(wh, decisions, policy, args.dry_run):
            print(line)
        if not args.dry_run:
            retention.prune(wh, decisions, by, policy)
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _who() -> dict[str, str]:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"user": user, "host": socket.gethostname()}


def _add_runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf", help=f"config YAML (path or s3:// URI; default {DEFAULT_CONF})")
    parser.add_argument(
        "--warehouse", help="local folder or s3:// prefix (instead of the config's warehouse.dir)"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys", description="Batch music recommender on Spark")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample-data", help="generate sample data in the real file formats")
    # The names of sampledata.SIZES, spelled out: recsys.cli imports without sampledata.
    p.add_argument("--size", choices=("tiny", "small", "large"), default="small")
    p.add_argument("--out", default="data/sample")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--gzip", action="store_true", help="write .gz files")
    p.add_argument(
        "--triplets", type=int, default=0, help="scale tiny or small to about this many lines"
    )
    p.set_defaults(func=_cmd_sample_data)

    p = sub.add_parser("run", help="run the whole pipeline (or --steps) in one Spark session")
    add_job_arguments(p, run_id_required=False)
    p.add_argument("--steps", help="comma-separated subset, e.g. ingest,train-als")
    p.set_defaults(func=_cmd_run)

    for s in STEPS:
        p = sub.add_parser(s.name, help=s.doc)
        add_job_arguments(p)
        p.set_defaults(func=None, job=s.name)

    p = sub.add_parser("config", help="print the validated config with overrides applied")
    add_job_arguments(p, run_id_required=False)
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("emr", help="package, submit, watch and schedule the pipeline on EMR")
    emr_cli.register(p.add_subparsers(dest="emr_command", required=True))

    p = sub.add_parser("viewer", help="open the Streamlit viewer on a warehouse")
    p.add_argument("--warehouse", default="warehouse", help="local folder or s3:// prefix")
    p.add_argument("--port", type=int, help="port to serve on (default: streamlit's 8501)")
    p.add_argument(
        "--require-login",
        action="store_true",
        help="log in first (Streamlit's OIDC st.login; [auth] in .streamlit/secrets.toml)",
    )
    p.add_argument("--allow", help="with --require-login: e-mails or @domains let in (a,b)")
    p.set_defaults(func=_cmd_viewer)

    p = sub.add_parser("runs", help="list the warehouse's runs; prune old runs' tables")
    runs = p.add_subparsers(dest="runs_command", required=True)
    p = runs.add_parser("list", help="one line per run, newest first")
    _add_runs_arguments(p)
    p.set_defaults(func=_cmd_runs_list)
    p = runs.add_parser(
        "prune", help="delete old runs' tables, keeping their documents (warehouse.retention)"
    )
    _add_runs_arguments(p)
    p.add_argument("--keep", type=int, help="newest runs kept (default warehouse.retention.keep)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, delete nothing")
    p.set_defaults(func=_cmd_runs_prune)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "job", None):
        return run_job(args.job, argv[1:])
    try:
        return args.func(args)
    except (config_mod.ConfigError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except JobFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
