"""The jobs with the warehouse on S3 through Spark's s3a connector, against moto over HTTP.

On EMR the warehouse is ``s3://`` (EMRFS); anywhere else Spark reaches S3 through s3a
(``storage.spark_s3_scheme: s3a``). Here ``spark-submit`` runs the ingest, ALS and item-based
jobs, one application each as EMR's steps do, with the warehouse in a bucket of moto's server
on 127.0.0.1: Spark writes and reads every table over HTTP, the step records and reports go
through pyarrow's S3 client, and the catalogue structures are shipped through the bucket
(``recsys.similarity.ship``: the executors write them under ``_ship/<application>/`` and fetch
them back through ``SparkContext.addFile``). moto's request log shows each of those requests.
The tables must equal the tiny pipeline's, which ran the same steps on a local folder.

The hadoop-aws and AWS SDK jars come from the sagemaker-pyspark package
(``requirements-s3a.txt``, installed by ``test.sh``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recsys import schemas as S
from recsys.storage.warehouse import Warehouse
from streamlit_app.screenshot import free_port
from tests.support import REPO
from tests.unit.emr_moto import _wait_for

BUCKET = "recsys-s3a"
WAREHOUSE = f"s3://{BUCKET}/warehouse"
RUN = "s3a-1"
JOBS = ("ingest", "train-als", "train-itemknn")
JARS = ("hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar")
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
REQUEST = re.compile(r'"(GET|PUT|HEAD|POST|DELETE) (\S+) HTTP')
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def s3a_jars() -> list[Path]:
    spec = importlib.util.find_spec("sagemaker_pyspark")
    if spec is None or spec.origin is None:
        pytest.skip(
            "the s3a jars are not installed: pip install --no-deps -r requirements-s3a.txt "
            "(./test.sh does it)"
        )
    folder = Path(spec.origin).parent / "jars"
    return [folder / name for name in JARS]


def requests_in(log_text: str) -> list[tuple[str, str]]:
    """``(method, path)`` of every request in a slice of moto's log."""
    return REQUEST.findall(ANSI.sub("", log_text))


def submit(job: str, raw: Path, jars: list[Path], checkpoints: Path, env: dict) -> str:
    cmd = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        "local[2]",
        "--jars",
        ",".join(str(j) for j in jars),
        str(REPO / "jobs" / f"{job.replace('-', '_')}.py"),
        "--conf",
        str(REPO / "conf" / "local.yaml"),
        "--run-id",
        RUN,
    ]
    # tests.support.make_config's settings, so the tables can be set beside the tiny pipeline's
    for setting in (
        f"input.dir={raw}",
        f"warehouse.dir={WAREHOUSE}",
        "storage.spark_s3_scheme=s3a",
        f"spark.checkpoint_dir={checkpoints}",
        "spark.shuffle_partitions=2",
        "ingest.max_bad_fraction=0.05",
        "spark.extra={'spark.ui.enabled': 'false', 'spark.default.parallelism': '2'}",
    ):
        cmd += ["--set", setting]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, f"{job}: {proc.stderr[-3000:]}"
    assert f"{job} done in" in proc.stdout, proc.stdout[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def s3_jobs(tiny_raw, tmp_path_factory):
    """The three jobs run against a fresh moto: (endpoint, moto's log slice per job)."""
    import boto3

    jars = s3a_jars()
    raw, _ = tiny_raw
    root = tmp_path_factory.mktemp("s3a_jobs")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = root / "moto.log"
    server = Path(sys.executable).with_name("moto_server")
    with open(log_path, "w") as log:
        moto = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log,  # werkzeug writes one line per request here
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ENV, AWS_ENDPOINT_URL=endpoint, PYTHONPATH=str(REPO))
    slices: dict[str, str] = {}
    try:
        _wait_for(f"{endpoint}/moto-api/")
        boto3.client("s3", endpoint_url=endpoint, **_keys()).create_bucket(Bucket=BUCKET)
        for job in JOBS:
            start = log_path.stat().st_size
            submit(job, raw, jars, root / "checkpoints", env)
            with open(log_path, errors="replace") as f:
                f.seek(start)
                slices[job] = f.read()
        with pytest.MonkeyPatch.context() as mp:
            for name in [k for k in os.environ if k.startswith("AWS_")]:
                mp.delenv(name)
            for name, value in {**ENV, "AWS_ENDPOINT_URL": endpoint}.items():
                mp.setenv(name, value)
            yield endpoint, slices
    finally:
        moto.terminate()
        moto.wait(timeout=10)


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": ENV["AWS_DEFAULT_REGION"],
    }


def read_sorted(wh: Warehouse, run_id: str, table: str) -> pd.DataFrame:
    """A table through pyarrow (as the viewer reads it), rows in a fixed order."""
    df = wh.read_table_arrow(run_id, table)
    keys = [c for c in df.columns if df[c].map(lambda v: isinstance(v, (str, int, float))).all()]
    return df.sort_values(keys).reset_index(drop=True)


def counts(summary: dict) -> dict:
    """A step summary's counts (its timings differ from run to run)."""
    return {
        k: v
        for k, v in summary.items()
        if isinstance(v, int) and not isinstance(v, bool) and not k.endswith("_s")
    }


def test_tables_on_s3_equal_the_local_pipelines(s3_jobs, tiny_pipeline):
    tiny_cfg, tiny_run, results, _ = tiny_pipeline
    on_s3, local = Warehouse(WAREHOUSE, "s3a"), Warehouse.from_config(tiny_cfg)
    for table in (
        S.INTERACTIONS,
        S.USERS,
        S.SONGS,
        S.QUARANTINE,
        S.COPLAY_NEIGHBOURS,
        S.CF_NEIGHBOURS,
        S.CF_USER_TOPN,
    ):
        got, want = read_sorted(on_s3, RUN, table), read_sorted(local, tiny_run, table)
        assert len(got) > 0, table
        pd.testing.assert_frame_equal(got, want, check_like=True, obj=table)
    for job in JOBS:
        record = on_s3.read_json(RUN, f"step-{job}.json")
        assert record["step"] == job
        assert counts(record["summary"]) and counts(record["summary"]) == counts(results[job])
    report = on_s3.read_json(RUN, S.QUALITY_REPORT)
    assert report["inputs"] == local.read_json(tiny_run, S.QUALITY_REPORT)["inputs"]


def test_the_catalogue_structures_were_shipped_through_the_bucket(s3_jobs):
    endpoint, slices = s3_jobs
    ship = re.compile(rf"^/{BUCKET}/warehouse/runs/{RUN}/_ship/([^/]+)/[0-9a-f]{{32}}/\d+/part-")
    apps = {}
    for job in ("train-als", "train-itemknn"):
        seen = requests_in(slices[job])
        written = {p for m, p in seen if m == "PUT" and ship.match(p) and "_temporary" not in p}
        fetched = {p.split("?")[0] for m, p in seen if m == "GET" and ship.match(p)}
        # the executors wrote the packed structures as Parquet and fetched every file back
        assert written, job
        assert written <= fetched, sorted(written - fetched)[:3]
        apps[job] = {ship.match(p).group(1) for p in fetched}
        assert len(apps[job]) == 1, apps[job]  # one scratch folder per application
    assert apps["train-als"] != apps["train-itemknn"]
    # ingest ships nothing: its application only looks for a scratch folder to delete
    assert not [(m, p) for m, p in requests_in(slices["ingest"]) if ship.match(p)]


def test_each_job_deleted_its_scratch_folder(s3_jobs):
    import boto3

    endpoint, _ = s3_jobs
    s3 = boto3.client("s3", endpoint_url=endpoint, **_keys())
    prefix = f"warehouse/runs/{RUN}/"
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    assert any(k.startswith(prefix + S.COPLAY_NEIGHBOURS + "/") for k in keys)
    # neither a shipped file nor the emptied folders' markers (s3a leaves one where a folder
    # it deleted was the last thing in its parent)
    assert [k for k in keys if "/_ship" in k] == []
