"""The one module that knows the warehouse layout.

::

    <warehouse>/runs/<run_id>/<table>/part-*.parquet   (+ _SUCCESS once complete)
    <warehouse>/runs/<run_id>/quality_report.json, manifest.json, ...
    <warehouse>/latest                                 {"run_id": ...}, moved last

A table counts as written only when its ``_SUCCESS`` marker exists (Spark's committer
and EMRFS write it at job commit), so a job killed mid-write leaves nothing a reader
takes for complete. Re-running a job overwrites its tables whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recsys import names
from recsys.errors import WarehouseError
from recsys.storage import files as storage

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from recsys.config import Config

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Tables the viewer looks up by one key are written clustered by it (range-partitioned, then
# sorted within each file), so each file's and row group's min/max statistics cover a narrow
# range of keys and a lookup's pushed-down filter reads a few row groups, not the table.
LOOKUP_KEYS = {
    names.INTERACTIONS: names.USER,
    names.USERS: names.USER_ID,
    names.SONGS: names.SONG,
    names.USER_RECOMMENDATIONS: names.USER,
    names.USER_CANDIDATES: names.USER,
    names.SIMILAR_SONGS: names.SONG,
}
# ... in row groups this small (Parquet's default is 128 MB): a lookup reads the column
# chunks of the row groups its key falls in, so this bounds the bytes one lookup reads.
LOOKUP_ROW_GROUP_BYTES = 8 * 1024 * 1024
SUCCESS_MARKER = "_SUCCESS"
LATEST = "latest"


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise WarehouseError(
            f"run id {run_id!r} is not valid: use letters, digits, '.', '_' or '-' "
            "(for example 2026-11-24 or local-001)"
        )
    return run_id


@dataclass(frozen=True)
class Warehouse:
    root: str
    spark_s3_scheme: str = "s3"

    @classmethod
    def from_config(cls, cfg: Config) -> Warehouse:
        return cls(cfg.warehouse.dir, cfg.storage.spark_s3_scheme)

    # ------------------------------------------------------------------ paths
    def runs_uri(self) -> str:
        return storage.join(self.root, "runs")

    def run_uri(self, run_id: str) -> str:
        return storage.join(self.runs_uri(), check_run_id(run_id))

    def table_uri(self, run_id: str, table: str) -> str:
        return storage.join(self.run_uri(run_id), table)

    def doc_uri(self, run_id: str, name: str) -> str:
        return storage.join(self.run_uri(run_id), name)

    def model_uri(self, run_id: str, name: str) -> str:
        """Where a fitted Spark ML model of the run is saved (``runs/<run_id>/models/<name>``)."""
        return storage.join(self.run_uri(run_id), "models", name)

    def spark_path(self, uri: str) -> str:
        """The path Spark should use: ``s3://`` becomes ``s3a://`` off EMR."""
        if storage.is_s3(uri) and self.spark_s3_scheme == "s3a":
            return "s3a://" + uri.split("://", 1)[1]
        return uri

    # ------------------------------------------------------------------ tables
    def write_table(
        self,
        df: DataFrame,
        run_id: str,
        table: str,
        partition_by: list[str] | None = None,
        decorate: Callable[[DataFrame], DataFrame] | None = None,
        ranged: bool = False,
    ) -> str:
        """Write ``df`` as the run's ``table`` (replacing an earlier attempt whole); a table of
        :data:`LOOKUP_KEYS` is clustered by its key.

        ``decorate`` (row-wise columns and broadcast joins only: it must keep the rows where
        they are) is applied after the clustering shuffle, so wide columns such as names are
        added to rows already in place instead of travelling with them.

        ``ranged``: ``df`` is already range-partitioned by the table's key (each partition one
        contiguous range of keys, as ``repartitionByRange`` leaves it, through narrow steps
        only), so it is only sorted within its partitions: no shuffle."""
        uri = self.table_uri(run_id, table)
        key = LOOKUP_KEYS.get(table)
        clustered = key is not None and not partition_by and key in df.columns
        if clustered and not ranged:
            df = df.repartitionByRange(key)
        if decorate is not None:
            df = decorate(df)
        if clustered:
            df = df.sortWithinPartitions(key)
        writer = df.write.mode("overwrite")
        if clustered:
            writer = writer.option("parquet.block.size", str(LOOKUP_ROW_GROUP_BYTES))
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(self.spark_path(uri))
        return uri

    def has_table(self, run_id: str, table: str) -> bool:
        return storage.exists(storage.join(self.table_uri(run_id, table), SUCCESS_MARKER))

    def read_table(self, spark: SparkSession, run_id: str, table: str) -> DataFrame:
        """Read a complete table of a run, or raise naming what is missing."""
        uri = self._require_table(run_id, table)
        return spark.read.parquet(self.spark_path(uri))

    def read_table_arrow(
        self,
        run_id: str,
        table: str,
        columns: list[str] | None = None,
        filters: Any = None,
        limit: int | None = None,
        optional: list[str] | None = None,
    ) -> pd.DataFrame:
        """Read (part of) a complete table without Spark, for the viewer and small tables.

        ``columns`` prunes the columns read; ``filters`` (a ``pyarrow.compute.Expression`` or
        DNF tuples such as ``[("user_id", "==", "u1")]``) is pushed into the scan, so row
        groups whose statistics exclude it are skipped and only matching rows are kept;
        ``limit`` stops the scan after that many rows. Works on local folders and ``s3://``
        (with ``AWS_ENDPOINT_URL`` for a custom endpoint). ``optional`` columns are read where
        the table has them (columns added since older runs were written).
        """
        import pyarrow as pa
        import pyarrow.dataset as pads
        import pyarrow.parquet as pq

        uri = self._require_table(run_id, table)
        fs, path = storage.filesystem(uri)
        if filters is not None and not isinstance(filters, pads.Expression):
            filters = pq.filters_to_expression(filters)
        try:
            dataset = pads.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
            if columns is not None and optional:
                columns = [*columns, *(c for c in optional if c in dataset.schema.names)]
            unknown = sorted(set(columns or []) - set(dataset.schema.names))
            if unknown:
                raise WarehouseError(
                    f"table {table!r} of run {run_id!r} has no column(s) {', '.join(unknown)} "
                    f"(it has {', '.join(dataset.schema.names)})"
                )
            if limit is not None:
                arrow = dataset.head(limit, columns=columns, filter=filters)
            else:
                arrow = dataset.to_table(columns=columns, filter=filters)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise WarehouseError(
                f"table {table!r} of run {run_id!r} at {uri} is unreadable: {exc}"
            ) from None
        except OSError as exc:
            raise storage.StorageError(f"{uri}: {exc}") from exc
        return arrow.to_pandas()

    def _require_table(self, run_id: str, table: str) -> str:
        uri = self.table_uri(run_id, table)
        if not self.has_table(run_id, table):
            state = "incomplete (no _SUCCESS marker)" if storage.exists(uri) else "missing"
            raise WarehouseError(
                f"table {table!r} of run {run_id!r} is {state} at {uri}: run the job that "
                "writes it first"
            )
        return uri

    # ------------------------------------------------------------------ documents
    def write_json(self, run_id: str, name: str, doc: Any) -> str:
        uri = self.doc_uri(run_id, name)
        payload = json.dumps(doc, indent=2, sort_keys=True, default=str).encode("utf-8")
        storage.write_bytes_atomic(uri, payload)
        return uri

    def read_json(self, run_id: str, name: str) -> Any:
        uri = self.doc_uri(run_id, name)
        try:
            return json.loads(storage.read_bytes(uri))
        except FileNotFoundError:
            raise WarehouseError(f"{name} of run {run_id!r} not found at {uri}") from None
        except json.JSONDecodeError as exc:
            raise WarehouseError(f"{uri}: not valid JSON ({exc})") from None

    def write_text(self, run_id: str, name: str, text: str) -> str:
        uri = self.doc_uri(run_id, name)
        storage.write_bytes_atomic(uri, text.encode("utf-8"))
        return uri

    def read_text(self, run_id: str, name: str) -> str:
        uri = self.doc_uri(run_id, name)
        try:
            return storage.read_bytes(uri).decode("utf-8")
        except FileNotFoundError:
            raise WarehouseError(f"{name} of run {run_id!r} not found at {uri}") from None

    # ------------------------------------------------------------------ runs
    def list_runs(self) -> list[str]:
        return [r for r in storage.list_dirs(self.runs_uri()) if RUN_ID_PATTERN.match(r)]

    def latest_run_id(self) -> str | None:
        """The published run, or None when nothing was published yet."""
        uri = storage.join(self.root, LATEST)
        try:
            doc = json.loads(storage.read_bytes(uri))
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as exc:
            raise WarehouseError(f"{uri}: latest pointer is not valid JSON ({exc})") from None
        return check_run_id(doc["run_id"])

    def set_latest(self, run_id: str, **extra: Any) -> None:
        """Move the ``latest`` pointer in one atomic write."""
        doc = {"run_id": check_run_id(run_id), **extra}
        storage.write_bytes_atomic(
            storage.join(self.root, LATEST), json.dumps(doc, sort_keys=True).encode("utf-8")
        )
