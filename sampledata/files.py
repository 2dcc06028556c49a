"""Names of the written files, and the writer that counts their lines."""

from __future__ import annotations

import gzip as gzip_mod
from pathlib import Path
from typing import BinaryIO

TRIPLETS_FILE = "train_triplets.txt"
TRACKS_FILE = "unique_tracks.txt"
MISMATCHES_FILE = "sid_mismatches.txt"
LYRICS_FILE = "mxm_dataset_train.txt"
PLANTED_DIR = "_planted"


class OutFile:
    """A binary output file, plain or gzip (deterministic header), counting lines.

    Writing ``path`` removes a stale counterpart (``path.gz`` or the plain ``path``), which
    the ingest's glob would read as well.
    """

    def __init__(self, path: Path, use_gzip: bool) -> None:
        self.name = path.name + (".gz" if use_gzip else "")
        self.path = path.with_name(self.name)
        stale = path if use_gzip else path.with_name(path.name + ".gz")
        if stale.exists():
            stale.unlink()
        self._raw = open(self.path, "wb")  # noqa: SIM115
        self._f: BinaryIO = self._raw
        if use_gzip:
            self._f = gzip_mod.GzipFile(
                filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=1
            )
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.lines += data.count(b"\n")
        self._f.write(data)

    def close(self) -> None:
        if self._f is not self._raw:
            self._f.close()
        self._raw.close()

    def __enter__(self) -> OutFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_file(path: Path, use_gzip: bool, data: bytes) -> OutFile:
    """Write ``data`` to ``path`` (``path.gz`` with ``use_gzip``); return the closed file."""
    with OutFile(path, use_gzip) as f:
        f.write(data)
    return f
