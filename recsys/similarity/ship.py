"""Catalogue-sized structures the executors build for themselves, not a driver broadcast.

A broadcast passes through the driver's Python: the structure (neighbour lists, factors,
content vectors: O(songs)) is gathered there, built, pickled and sent. With a scratch folder
configured (:func:`configure`, done by the step runner), :func:`ship` has the executors write the
same packed chunks the gather would bring to the driver as Parquet under that folder, hands each
file to ``SparkContext.addFile`` (Spark fetches it to every executor, with the run's Hadoop
filesystem settings: local, HDFS or S3), and returns a :class:`Shipped` handle used like a
broadcast: the first ``.value`` in a Python worker reads the files with pyarrow, unpacks and
builds the structure, and keeps it for that worker's later tasks. The driver holds a handful of
file names.

Spark sends every file added so far to an executor that joins later (dynamic allocation), so the
files stay until the application ends (:func:`clear`); :meth:`Shipped.destroy` only marks the
structure stale, and a worker drops stale structures when it next loads one. Without a scratch
folder, :func:`ship` gathers and broadcasts as before (library use, unit tests).
"""

from __future__ import annotations

import sys
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from pyspark.sql import DataFrame

# The application's scratch folder (a Spark path), set by the step runner.
_ROOT: list[str] = []
# Names of the structures destroyed on the driver: sent along, so a worker drops them.
_STALE: set[str] = set()
# In a Python worker: the structures it built, newest last.
_BUILT: OrderedDict[str, Any] = OrderedDict()
KEEP = 2  # structures a worker keeps at once (a task reads one; the previous step's may linger)


@dataclass(frozen=True)
class Gather:
    """A packed frame (a few binary rows per partition, as ``mapInPandas`` packs them) and the
    module-level function that turns its rows (mappings by column name) into the value."""

    frame: DataFrame
    unpack: Callable[[Iterable[Mapping[str, Any]]], Any]

    def collect(self) -> Any:
        """The value, gathered on the driver."""
        return self.unpack(self.frame.toLocalIterator())


def configure(root: str | None) -> None:
    """Ship to ``root`` (a Spark path, one folder per application) from now on; ``None``:
    broadcast from the driver."""
    _ROOT[:] = [root.rstrip("/")] if root else []


def scratch_root() -> str | None:
    return _ROOT[0] if _ROOT else None


def ship(spark, parts: list[Gather], build: Callable[..., Any], extra: tuple = ()) -> Any:
    """``build(*values of parts)`` for the executors (with ``extra`` gathers, the tuple
    ``(built, *their values)``): a :class:`Shipped` handle under the configured scratch folder,
    else a broadcast of the value built on the driver. Either is registered with
    :func:`recsys.similarity.topn.register_broadcast` (released with the step)."""
    from recsys.similarity.topn import register_broadcast

    if extra:
        parts, build = [*parts, *extra], partial(_with_extra, build, len(parts))
    root = scratch_root()
    if root is None:
        value = build(*(part.collect() for part in parts))
        return register_broadcast(spark.sparkContext.broadcast(value))
    name = uuid.uuid4().hex
    files = []
    for i, part in enumerate(parts):
        folder = f"{root}/{name}/{i}"
        part.frame.write.parquet(folder)
        uris = _parquet_files(spark, folder)
        for uri in uris:
            spark.sparkContext.addFile(uri)
        files.append(tuple(uri.rsplit("/", 1)[1] for uri in uris))
    handle = Shipped(name, tuple(files), tuple(p.unpack for p in parts), build, frozenset(_STALE))
    return register_broadcast(handle)


def _with_extra(build, n: int, *values):
    return (build(*values[:n]), *values[n:])


def _hadoop_path(spark, uri: str):
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark._jsc.hadoopConfiguration())


def _parquet_files(spark, folder: str) -> list[str]:
    path, fs = _hadoop_path(spark, folder)
    names = [s.getPath().toString() for s in fs.listStatus(path)]
    return sorted(n for n in names if n.endswith(".parquet"))


def clear(spark) -> bool:
    """Delete the scratch folder (at the application's end) and stop shipping; True if there
    was one."""
    root = scratch_root()
    configure(None)
    _STALE.clear()
    if root is None:
        return False
    try:
        path, fs = _hadoop_path(spark, root)
        fs.delete(path, True)
    except Exception as exc:  # a stopped session: the folder stays, inside its run
        print(f"warning: could not delete the scratch folder {root}: {exc}", file=sys.stderr)
        return False
    return True


def remove_if_empty(spark, folder: str) -> bool:
    """Delete ``folder`` (a Spark path) if it holds nothing; True if it is gone. Another
    application's scratch folder beside ours keeps it (a non-recursive delete fails)."""
    try:
        path, fs = _hadoop_path(spark, folder)
        if not fs.exists(path):
            return True
        return len(fs.listStatus(path)) == 0 and bool(fs.delete(path, False))
    except Exception:  # noqa: BLE001 - a folder filled meanwhile, or a stopped session
        return False


def _rows(paths: Iterable[str]) -> Iterable[Mapping[str, Any]]:
    """The packed rows of the files, in order: binary values as zero-copy Arrow buffers (the
    unpacking reads them with ``np.frombuffer``), the rest as Python values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in paths:
        table = pq.read_table(path)
        binary = {f.name for f in table.schema if pa.types.is_binary(f.type)}
        for batch in table.to_batches():
            columns = {name: batch.column(name) for name in batch.schema.names}
            for i in range(batch.num_rows):
                yield {
                    name: col[i].as_buffer() if name in binary else col[i].as_py()
                    for name, col in columns.items()
                }


@dataclass(frozen=True)
class Shipped:
    """A structure the executors build from shipped files (see the module's docstring)."""

    name: str
    files: tuple[tuple[str, ...], ...]
    unpacks: tuple[Callable, ...]
    build: Callable[..., Any]
    stale: frozenset[str] = frozenset()

    @property
    def value(self) -> Any:
        built = _BUILT.get(self.name)
        if built is not None:
            _BUILT.move_to_end(self.name)
            return built
        from pyspark import SparkFiles

        if not SparkFiles._is_running_on_worker:
            raise RuntimeError(f"shipped structure {self.name} is built by the executors only")
        for name in self.stale.intersection(_BUILT):
            del _BUILT[name]
        values = (
            unpack(_rows(SparkFiles.get(f) for f in files))
            for unpack, files in zip(self.unpacks, self.files, strict=True)
        )
        built = self.build(*values)
        _BUILT[self.name] = built
        while len(_BUILT) > KEEP:
            _BUILT.popitem(last=False)
        return built

    def destroy(self) -> None:
        """Mark the structure stale (its files go with the application's, :func:`clear`)."""
        _STALE.add(self.name)

    def unpersist(self) -> None:
        self.destroy()
