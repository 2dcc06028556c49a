"""Finding and reading the raw input files, through Hadoop's FileSystem (local folders,
``s3://`` on EMR and ``s3a://`` all work).

Whole-file problems end the run at once with an :class:`InputError` that names the file,
before any table is written: a missing or empty (0-byte) triplets file, a compressed file whose
name does not say so (a gzip'd ``train_triplets.txt``: Hadoop decompresses only by extension,
so its bytes would otherwise be parsed as binary lines), a ``.gz`` file that is not gzip, a
compressed file cut short (found while reading). We fail rather than quarantine these: every
line of such a file would be garbage, and the fix (rename, decompress, re-download) is the
operator's. The lines themselves are parsed by :mod:`recsys.inputs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recsys.errors import InputError
from recsys.inputs.lines import LINES_SCHEMA, TRIPLETS

# The first bytes of compressed formats a raw input might arrive in by mistake. bzip2's
# header includes its block magic so that a text line starting with "BZh" is not mistaken.
COMPRESSED_MAGIC: dict[str, re.Pattern[bytes]] = {
    "gzip": re.compile(rb"^\x1f\x8b"),
    "bzip2": re.compile(rb"^BZh[1-9]1AY&SY"),
    "zip": re.compile(rb"^PK\x03\x04"),
    "zstd": re.compile(rb"^\x28\xb5\x2f\xfd"),
    "xz": re.compile(rb"^\xfd7zXZ\x00"),
}
HEAD_BYTES = 10
# Hadoop codec class -> the format its files must start with.
CODEC_FORMATS = {"GzipCodec": "gzip", "BZip2Codec": "bzip2", "ZStandardCodec": "zstd"}


def find_inputs(spark: SparkSession, directory: str, pattern: str) -> list[str]:
    """Files matching ``directory/pattern`` or its ``.gz`` twin, through Hadoop's FileSystem
    (so local folders, ``s3://`` on EMR and ``s3a://`` all work)."""
    jvm = spark.sparkContext._jvm
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    base = directory.rstrip("/") + "/" + pattern
    found: list[str] = []
    for candidate in (base, base + ".gz"):
        path = jvm.org.apache.hadoop.fs.Path(candidate)
        statuses = path.getFileSystem(hconf).globStatus(path)
        for status in statuses or []:
            if status.isFile():
                found.append(status.getPath().toString())
    return sorted(set(found))


@dataclass(frozen=True)
class FileHead:
    """What the driver learns of one raw file before Spark reads it: O(files), not O(data)."""

    path: str
    size: int
    codec: str | None  # the format Hadoop will decompress it as (by its name), or None
    head: bytes  # its first HEAD_BYTES bytes, as stored (still compressed)


def compressed_format(head: bytes) -> str | None:
    """The compressed format ``head`` (a file's first bytes) starts with, if any."""
    for name, magic in COMPRESSED_MAGIC.items():
        if magic.match(head):
            return name
    return None


def check_file(input_name: str, file: FileHead) -> str | None:
    """Why a raw file cannot be read as it is named, or None when it can.

    A compressed file must be named so that Hadoop decompresses it (``.gz``, ``.bz2``...);
    a file so named must hold that format. Empty files are fine here (see :func:`check_inputs`).
    """
    if file.size == 0:
        return None
    found = compressed_format(file.head)
    if file.codec is None and found is not None:
        suffix = {"gzip": ".gz", "bzip2": ".bz2", "zstd": ".zst"}.get(found)
        fix = (
            f"rename it to end in {suffix} (read transparently) or decompress it"
            if suffix
            else "extract it"
        )
        return (
            f"{input_name}: {file.path} is {found}-compressed, but its name does not say so, "
            f"so it would be read as binary lines: {fix}"
        )
    if file.codec is not None and found != file.codec:
        return (
            f"{input_name}: {file.path} is named as {file.codec} but does not hold {file.codec} "
            f"data (it starts with {file.head[:8]!r}): rename or re-compress it"
        )
    return None


def file_heads(spark: SparkSession, paths: list[str]) -> list[FileHead]:
    """Size, codec and first bytes of each file through Hadoop's FileSystem (driver side)."""
    jvm = spark.sparkContext._jvm
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(hconf)
    heads = []
    for path in paths:
        hpath = jvm.org.apache.hadoop.fs.Path(path)
        fs = hpath.getFileSystem(hconf)
        size = int(fs.getFileStatus(hpath).getLen())
        codec = codecs.getCodec(hpath)
        codec_name = None
        if codec is not None:
            cls = codec.getClass().getSimpleName()
            codec_name = CODEC_FORMATS.get(cls, cls)
        head = bytearray()
        if size:
            stream = fs.open(hpath)
            try:
                while len(head) < min(size, HEAD_BYTES):
                    byte = stream.read()
                    if byte < 0:
                        break
                    head.append(byte)
            finally:
                stream.close()
        heads.append(FileHead(path, size, codec_name, bytes(head)))
    return heads


_READ_ERROR = re.compile(r"Encountered error while reading file (\S+?)\.? Details")
_CAUSE = re.compile(r"Caused by: ([^\n]+)")
# Causes that mean a file's bytes could not be read (truncated or corrupt compressed data).
_IO_CAUSE = re.compile(r"EOFException|ZipException|IOException|not a gzip file|CRC", re.I)


def read_failure(
    exc: BaseException, files: dict[str, list[str]], culprit: str | None = None
) -> InputError | None:
    """An :class:`InputError` naming the input and file when ``exc`` is Spark failing to read
    a raw file (a truncated or corrupt compressed file), else None.

    Spark names the file in some failures ("Encountered error while reading file ..."); for
    the others (a gzip stream cut short raises a bare ``EOFException``) pass the ``culprit``
    found by :func:`find_unreadable`.
    """
    text = str(exc)
    causes = _CAUSE.findall(text)
    cause = causes[-1].strip() if causes else text.strip().splitlines()[0]
    found = _READ_ERROR.search(text)
    bad = found.group(1) if found else culprit
    if bad is None:
        return None
    name = next(
        (n for n, paths in files.items() for p in paths if _local_part(p) == _local_part(bad)),
        "input",
    )
    return InputError(
        f"{name}: {bad} could not be read ({cause}); is it a truncated or corrupt "
        "compressed file? Replace it and run again"
    )


def find_unreadable(
    spark: SparkSession, exc: BaseException, files: dict[str, list[str]]
) -> str | None:
    """After an I/O failure that names no file, read each compressed input alone to find the
    one that fails (only on the failure path; compressed files are one task each)."""
    if not _IO_CAUSE.search(str(exc)):
        return None
    jvm = spark.sparkContext._jvm
    codecs = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
        spark.sparkContext._jsc.hadoopConfiguration()
    )
    for paths in files.values():
        for path in paths:
            if codecs.getCodec(jvm.org.apache.hadoop.fs.Path(path)) is None:
                continue
            try:
                spark.read.text(path).count()
            except (Py4JJavaError, CapturedException):
                return path
    return None


def _local_part(path: str) -> str:
    return re.sub(r"^[a-z0-9]+:/*", "/", path)


def read_lines(spark: SparkSession, paths: list[str], input_name: str) -> DataFrame:
    """Raw lines with their file (``source``), split start and position, for line numbers."""
    if not paths:
        return spark.createDataFrame([], LINES_SCHEMA)
    return spark.read.text(paths).select(
        F.lit(input_name).alias("input"),
        F.col("_metadata.file_path").alias("source"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_mid"),
        F.col("value").alias("raw"),
    )


def check_inputs(spark: SparkSession, files: dict[str, list[str]]) -> list[str]:
    """Refuse whole files that cannot be read as named; return the empty (0-byte) files.

    Raises
    ------
    InputError
        Naming the file: compressed but not named so (or named so but not compressed), or
        every triplets file empty.
    """
    empty: list[str] = []
    problems: list[str] = []
    for name, paths in files.items():
        heads = file_heads(spark, paths)
        empty += [h.path for h in heads if h.size == 0]
        problems += [msg for h in heads if (msg := check_file(name, h)) is not None]
        if name == TRIPLETS and heads and all(h.size == 0 for h in heads):
            problems.append(
                f"triplets: {', '.join(paths)} {'is' if len(paths) == 1 else 'are'} empty "
                "(0 bytes): nothing to ingest"
            )
    if problems:
        raise InputError(" | ".join(problems))
    return empty
