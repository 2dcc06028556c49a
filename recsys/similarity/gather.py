"""Catalogue-sized columns gathered to the driver as numpy arrays, without a Row per value."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from recsys import schemas as S
from recsys.errors import FactorError
from recsys.similarity.ship import Gather


def _pack(columns: tuple[str, ...], dtypes: tuple[str, ...]):
    def pack(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            if len(pdf):
                yield pd.DataFrame(
                    {
                        c: [pdf[c].to_numpy(dtype=d).tobytes()]
                        for c, d in zip(columns, dtypes, strict=True)
                    }
                )

    return pack


def _unpack(names: tuple[str, ...], dtypes: tuple[str, ...], chunks) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {c: [] for c in names}
    for chunk in chunks:
        for c, d in zip(names, dtypes, strict=True):
            parts[c].append(np.frombuffer(chunk[c], dtype=d))
    return {
        c: np.concatenate(parts[c]) if parts[c] else np.zeros(0, dtype=d)
        for c, d in zip(names, dtypes, strict=True)
    }


def gather_columns(frame: DataFrame, columns: dict[str, str]) -> Gather:
    """Catalogue-sized numeric columns (``{name: dtype}``) as a :class:`Gather` of numpy
    arrays: each Arrow batch packed into one row of bytes, so the side that unpacks (the
    driver, or a worker for :func:`recsys.similarity.ship.ship`) holds the arrays and nothing
    more (no Row per value)."""
    names, dtypes = tuple(columns), tuple(columns.values())
    schema = T.StructType([T.StructField(c, T.BinaryType(), False) for c in names])
    packed = frame.select(*names).mapInPandas(_pack(names, dtypes), schema)
    return Gather(packed, partial(_unpack, names, dtypes))


def collect_columns(frame: DataFrame, columns: dict[str, str]) -> dict[str, np.ndarray]:
    """Gather catalogue-sized numeric columns to the driver as numpy arrays (``{name: dtype}``),
    through ``toLocalIterator`` (:func:`gather_columns`)."""
    return gather_columns(frame, columns).collect()


_CHUNK_SCHEMA = T.StructType(
    [
        T.StructField("ids", T.BinaryType(), False),
        T.StructField("matrix", T.BinaryType(), False),
        T.StructField("rows", T.IntegerType(), False),
        T.StructField("dim", T.IntegerType(), False),
    ]
)


def _pack_chunks(id_col: str, chunk_rows: int, dtype=np.float32):
    def pack(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            for start in range(0, len(pdf), chunk_rows):
                part = pdf.iloc[start : start + chunk_rows]
                ids = part[id_col].to_numpy(dtype=np.int32)
                matrix = np.stack(part[S.FEATURES].to_numpy()).astype(dtype)
                yield pd.DataFrame(
                    {
                        "ids": [ids.tobytes()],
                        "matrix": [matrix.tobytes()],
                        "rows": [len(ids)],
                        "dim": [matrix.shape[1]],
                    }
                )

    return pack


def _unpack_matrix(id_col: str, dtype, chunks) -> tuple[np.ndarray, np.ndarray]:
    id_parts, matrix_parts, dims = [], [], set()
    for chunk in chunks:
        id_parts.append(np.frombuffer(chunk["ids"], dtype=np.int32))
        matrix_parts.append(
            np.frombuffer(chunk["matrix"], dtype=dtype).reshape(chunk["rows"], chunk["dim"])
        )
        dims.add(chunk["dim"])
    if len(dims) > 1:
        raise FactorError(f"item vectors ({id_col}, features) have mixed lengths {sorted(dims)}")
    if not id_parts:
        return np.zeros(0, dtype=np.int32), np.zeros((0, 0), dtype=dtype)
    ids = np.concatenate(id_parts)
    matrix = np.concatenate(matrix_parts)
    order = np.argsort(ids, kind="stable")
    ids, matrix = ids[order], np.ascontiguousarray(matrix[order])
    if ids.size > 1 and np.any(ids[1:] == ids[:-1]):
        dup = ids[1:][ids[1:] == ids[:-1]][0]
        raise FactorError(f"item vectors hold {id_col}={dup} more than once")
    return ids, matrix


def gather_item_matrix(
    item_factors: DataFrame, id_col: str = S.SONG, chunk_rows: int = 8192, dtype=np.float32
) -> Gather:
    """The item factor table as a :class:`~recsys.similarity.ship.Gather` of ``(ids
    ascending, matrix)`` (``dtype``: float32 unless asked): rows travel packed as a few
    binary chunks, so the side that unpacks never holds more than the matrix itself."""
    packed = item_factors.select(id_col, S.FEATURES).mapInPandas(
        _pack_chunks(id_col, chunk_rows, dtype), _CHUNK_SCHEMA
    )
    return Gather(packed, partial(_unpack_matrix, id_col, dtype))


def collect_item_matrix(
    item_factors: DataFrame, id_col: str = S.SONG, chunk_rows: int = 8192, dtype=np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Gather the item factor table into ``(ids ascending, matrix)`` on the driver
    (:func:`gather_item_matrix`): O(songs x rank), for sample-sized tables and tests; the
    pipeline ships catalogue-sized ones (:func:`recsys.similarity.ship.ship`)."""
    return gather_item_matrix(item_factors, id_col, chunk_rows, dtype).collect()
