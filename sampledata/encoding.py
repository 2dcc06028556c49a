"""Numpy byte packing: digits, ids and whole lines as ``uint8`` blocks joined into one blob.

Lines are built column-wise in an ``(n_rows, width)`` ``uint8`` matrix with a mask of the
bytes that count, then flattened, so a million lines cost a few array operations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HEX_LOWER = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


def digits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned ASCII digits of non-negative integers.

    Returns
    -------
    tuple of ndarray
        ``(n, width)`` uint8 digits and the bool mask of the significant ones.
    """
    v = np.asarray(values, dtype=np.int64)
    width = len(str(int(v.max()))) if v.size else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    mat = ((v[:, None] // powers) % 10 + 48).astype(np.uint8)
    n_digits = np.maximum(1, (v[:, None] >= powers).sum(axis=1))
    mask = np.arange(width)[None, :] >= (width - n_digits)[:, None]
    return mat, mask


def const(n: int, text: bytes) -> np.ndarray:
    """An ``(n, len(text))`` uint8 column block repeating ``text``."""
    return np.tile(np.frombuffer(text, dtype=np.uint8), (n, 1))


def pack(fields: Sequence[tuple[np.ndarray, np.ndarray | None]]) -> tuple[bytes, np.ndarray]:
    """Concatenate per-row byte fields (masked bytes dropped) into one blob.

    Returns
    -------
    tuple
        The bytes and the byte length of each row.
    """
    n = fields[0][0].shape[0]
    width = sum(m.shape[1] for m, _ in fields)
    mat = np.empty((n, width), dtype=np.uint8)
    mask = np.ones((n, width), dtype=bool)
    col = 0
    for m, k in fields:
        mat[:, col : col + m.shape[1]] = m
        if k is not None:
            mask[:, col : col + m.shape[1]] = k
        col += m.shape[1]
    return mat[mask].tobytes(), mask.sum(axis=1)


def insert_lines(blob: bytes, row_len: np.ndarray, inserts: list[tuple[int, bytes]]) -> bytes:
    """Insert whole lines before the given row positions of a packed blob."""
    if not inserts:
        return blob
    ends = np.concatenate([[0], np.cumsum(row_len)])
    pieces: list[bytes] = []
    prev = 0
    for pos, line in sorted(inserts, key=lambda x: x[0]):
        off = int(ends[pos])
        pieces.append(blob[prev:off])
        pieces.append(line)
        prev = off
    pieces.append(blob[prev:])
    return b"".join(pieces)


def msd_ids(rng: np.random.Generator, n: int, prefix: bytes) -> np.ndarray:
    """Unique MSD-style ids (``SO``/``TR`` + 5 letters + ``12`` + 9 hex), ``(n, 18)`` uint8."""
    mat = np.empty((n, 18), dtype=np.uint8)
    mat[:, :2] = np.frombuffer(prefix, dtype=np.uint8)
    mat[:, 7:9] = np.frombuffer(b"12", dtype=np.uint8)
    todo = np.arange(n)
    while todo.size:
        mat[todo, 2:7] = LETTERS[rng.integers(0, 26, size=(todo.size, 5))]
        mat[todo, 9:] = HEX_UPPER[rng.integers(0, 16, size=(todo.size, 9))]
        _, first = np.unique(mat.view("S18").ravel(), return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        todo = np.flatnonzero(dup)
    return mat


def id_strings(mat: np.ndarray) -> list[str]:
    """Id strings of an ``(n, width)`` uint8 id matrix."""
    return [b.decode("ascii") for b in np.ascontiguousarray(mat).view(f"S{mat.shape[1]}").ravel()]
