"""Catalogue-sized columns gathered to the driver as numpy arrays, without a Row per value."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T


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


def collect_columns(frame: DataFrame, columns: dict[str, str]) -> dict[str, np.ndarray]:
    """Gather catalogue-sized numeric columns to the driver as numpy arrays (``{name: dtype}``).

    Each Arrow batch travels as one row of packed bytes through ``toLocalIterator``, so the
    driver holds the arrays and nothing more (no Row object per value).
    """
    names, dtypes = tuple(columns), tuple(columns.values())
    schema = T.StructType([T.StructField(c, T.BinaryType(), False) for c in names])
    parts: dict[str, list[np.ndarray]] = {c: [] for c in names}
    for chunk in frame.select(*names).mapInPandas(_pack(names, dtypes), schema).toLocalIterator():
        for c, d in zip(names, dtypes, strict=True):
            parts[c].append(np.frombuffer(chunk[c], dtype=d))
    return {
        c: np.concatenate(parts[c]) if parts[c] else np.zeros(0, dtype=d)
        for c, d in zip(names, dtypes, strict=True)
    }
