"""Small-object I/O on a local folder or S3 without Spark (pointers, reports, manifests).

Spark reads and writes the tables; this module handles the few small files around them, and
the viewer's Parquet reads. S3 goes through ``pyarrow.fs.S3FileSystem``; a custom endpoint
(a local S3 stand-in) comes from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, exactly as
boto3 reads it, so the same code talks to AWS and to a test server.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse

import pyarrow.fs as pafs

from recsys.errors import StorageError

S3_SCHEMES = ("s3", "s3a", "s3n")


def is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in S3_SCHEMES


def s3_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for ``uri`` and the path inside it."""
    if is_s3(uri):
        parsed = urlparse(uri)
        path = (parsed.netloc + parsed.path).rstrip("/")
        endpoint = s3_endpoint()
        kwargs: dict = {}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        if endpoint:
            ep = urlparse(endpoint)
            kwargs["endpoint_override"] = ep.netloc or endpoint
            kwargs["scheme"] = ep.scheme or "http"
            kwargs["force_virtual_addressing"] = False
        return pafs.S3FileSystem(**kwargs), path
    if uri.startswith("file://"):
        uri = urlparse(uri).path
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def join(base: str, *parts: str) -> str:
    """Join path parts onto a local path or URI with '/'."""
    out = base.rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def exists(uri: str) -> bool:
    fs, path = filesystem(uri)
    try:
        return fs.get_file_info(path).type != pafs.FileType.NotFound
    except OSError as exc:
        raise StorageError(f"{uri}: {exc}") from exc


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    try:
        with fs.open_input_stream(path) as stream:
            return stream.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
            raise FileNotFoundError(uri) from exc
        raise StorageError(f"{uri}: {exc}") from exc


def write_bytes_atomic(uri: str, data: bytes) -> None:
    """Write a whole object so that readers see the old or the new content, never a part.

    S3 PUTs are atomic by nature; on a local disk the bytes go to a temporary sibling first
    and are renamed over the target.
    """
    fs, path = filesystem(uri)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            parent = os.path.dirname(path)
            os.makedirs(parent, exist_ok=True)
            tmp = os.path.join(parent, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        else:
            with fs.open_output_stream(path) as stream:
                stream.write(data)
    except OSError as exc:
        raise StorageError(f"{uri}: {exc}") from exc


def list_dirs(uri: str) -> list[str]:
    """Names of the immediate sub-folders of ``uri`` (empty if it does not exist)."""
    fs, path = filesystem(uri)
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
    try:
        infos = fs.get_file_info(selector)
    except OSError as exc:
        raise StorageError(f"{uri}: {exc}") from exc
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def delete_dir(uri: str) -> None:
    fs, path = filesystem(uri)
    try:
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_dir(path)
    except OSError as exc:
        raise StorageError(f"{uri}: {exc}") from exc
