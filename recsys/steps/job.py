"""What every spark-submit entry point shares: arguments, config, session, clean exit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from recsys import config as config_mod
from recsys.errors import JobFailed, WarehouseError
from recsys.steps import format_summary, run_step, shipping, step
from recsys.storage.warehouse import check_run_id

DEFAULT_CONF = "conf/local.yaml"
MIN_PYTHON = (3, 11)


def interpreter_problem(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> str | None:
    """Why this interpreter cannot run a job (None when it can), naming the one found."""
    if tuple(version[:2]) >= MIN_PYTHON:
        return None
    found = ".".join(str(v) for v in version)
    need = ".".join(str(v) for v in MIN_PYTHON)
    return (
        f"Python {found} at {sys.executable} runs this job, but the pipeline and its packed "
        f"packages need {need}: on EMR set emr.python (spark.pyspark.python) to python{need} "
        f"(EMR 7.1+ ships it); on EMR Serverless use an image that carries python{need}"
    )


def add_job_arguments(parser: argparse.ArgumentParser, run_id_required: bool = True) -> None:
    parser.add_argument("--conf", default=DEFAULT_CONF, help="config YAML (path or s3:// URI)")
    parser.add_argument("--run-id", required=run_id_required, help="the run's id, e.g. 2026-11-24")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set input.dir=/data/raw (repeatable)",
    )


def load_config(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(args.conf, args.set)


def run_job(name: str, argv: Sequence[str] | None = None) -> int:
    """Entry point body of ``jobs/<name>.py``: parse, configure, run, stop."""
    parser = argparse.ArgumentParser(prog=f"jobs/{name}.py", description=step(name).doc)
    add_job_arguments(parser)
    args = parser.parse_args(argv)
    problem = interpreter_problem()
    if problem:
        print(f"error: {name}: {problem}", file=sys.stderr)
        return 2
    print(f"{name}: Python {sys.version.split()[0]} at {sys.executable}")
    try:
        cfg = load_config(args)
        check_run_id(args.run_id)
        cfg.input.dir_for(args.run_id)  # a date in input.dir needs one in the run id
    except (config_mod.ConfigError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from recsys.session import build_session

    spark = build_session(cfg)
    try:
        with shipping(spark, cfg, args.run_id):
            summary, seconds = run_step(spark, cfg, args.run_id, step(name), args.conf)
        print(f"{name} done in {seconds:.1f}s: {format_summary(summary)}")
        return 0
    except (JobFailed, WarehouseError) as exc:
        print(f"error: {name} failed: {exc}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
