"""Build the SparkSession from config, in this one place only."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from recsys.storage import files as storage
from recsys.storage.warehouse import Warehouse

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from recsys.config import Config


def spark_settings(cfg: Config) -> dict[str, str]:
    """Every Spark setting the config implies, as strings."""
    settings = {
        "spark.sql.shuffle.partitions": str(cfg.spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if cfg.spark.driver_memory:
        settings["spark.driver.memory"] = cfg.spark.driver_memory
    if cfg.spark.executor_memory:
        settings["spark.executor.memory"] = cfg.spark.executor_memory
    if cfg.spark.kryo:
        settings["spark.serializer"] = "org.apache.spark.serializer.KryoSerializer"
    if cfg.storage.spark_s3_scheme == "s3a":
        endpoint = cfg.storage.s3_endpoint or storage.s3_endpoint()
        if endpoint:
            settings.update(
                {
                    "spark.hadoop.fs.s3a.endpoint": endpoint,
                    "spark.hadoop.fs.s3a.path.style.access": "true",
                    "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
                        endpoint.startswith("https")
                    ).lower(),
                }
            )
        if os.environ.get("AWS_ACCESS_KEY_ID"):
            settings["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
                "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
            )
    # YAML reads true/false as booleans: Spark's own spelling is lower case
    extra = {
        str(k): str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in cfg.spark.extra.items()
    }
    if cfg.spark.vector_api:
        # Spark ML's BLAS falls back to Java when no native BLAS loads; with the vector
        # module that fallback is netlib's VectorBLAS (SIMD) instead of plain loops. Locally
        # pyspark starts the JVM with these options (added to the config's own, never
        # instead of them); on a cluster the java launcher's JDK_JAVA_OPTIONS carries it to
        # the executors, so the cluster's own extraJavaOptions stay (the driver's comes from
        # the step: recsys.emr.definitions.python_conf).
        if (cfg.spark.master or "").startswith("local"):
            keys = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")
        else:
            keys = ("spark.executorEnv.JDK_JAVA_OPTIONS",)
        for key in keys:
            given = extra.get(key, "")
            if VECTOR_MODULE not in given:
                extra[key] = f"{given} {VECTOR_MODULE}".strip()
    settings.update(extra)
    return settings


VECTOR_MODULE = "--add-modules=jdk.incubator.vector"


def blas_in_use(spark: SparkSession) -> dict[str, str]:
    """The BLAS Spark ML computes with: netlib's native one when it loads (OpenBLAS or the
    system's libblas), else its Java one (``VectorBLAS`` with the vector API, else
    ``Java11BLAS``); ``in_use`` names the one ALS's solver gets."""
    jvm = spark.sparkContext._jvm

    def name(getter) -> str:
        try:
            return str(getter().getClass().getSimpleName())
        except Exception as exc:  # noqa: BLE001 - a missing library is an answer, not an error
            return "unavailable (" + (str(exc).splitlines() or ["?"])[0][:120] + ")"

    native = name(lambda: jvm.dev.ludovic.netlib.blas.NativeBLAS.getInstance())
    java = name(lambda: jvm.dev.ludovic.netlib.blas.JavaBLAS.getInstance())
    return {"native": native, "java": java, "in_use": java if native.startswith("unav") else native}


def numpy_blas(spark: SparkSession) -> str:
    """The BLAS numpy computes with on an executor (name and version, from numpy's build
    configuration), by a one-row job: ``als.solver: blocks`` solves there, not in Spark ML."""
    import pandas as pd

    def probe(batches):
        import numpy as np

        for _ in batches:
            pass
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
        except Exception as exc:  # noqa: BLE001 - an old numpy has no dict form: say so
            name = f"unknown ({type(exc).__name__})"
        yield pd.DataFrame({"blas": [name]})

    return spark.range(1, numPartitions=1).mapInPandas(probe, "blas string").first()["blas"]


def build_session(cfg: Config) -> SparkSession:
    """A SparkSession configured from ``cfg`` (master only when the config sets one)."""
    from pyspark.sql import SparkSession

    if cfg.spark.master and cfg.spark.master.startswith("local"):
        # Local workers must run this interpreter (the venv's), and the machine's hostname
        # may not resolve: both are facts of laptops and CI, never of EMR.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(cfg.spark.app_name)
    if cfg.spark.master:
        builder = builder.master(cfg.spark.master)
    for key, value in spark_settings(cfg).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.spark.log_level)
    checkpoint_dir = cfg.spark.checkpoint_dir or storage.join(cfg.warehouse.dir, "_checkpoints")
    spark.sparkContext.setCheckpointDir(Warehouse.from_config(cfg).spark_path(checkpoint_dir))
    return spark
