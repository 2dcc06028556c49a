"""Build what a cluster needs and upload it to ``<code_prefix>/<version>/``.

A version prefix is immutable: a schedule or a running cluster points at one, so it is
never overwritten (unless ``force``). The version is the git commit (``abc1234``, plus
``-dirty`` when packaged files differ from it) or an explicit build id.

Uploaded, relative to the version prefix:

- ``env.tar.gz``                   the pinned packages as manylinux2014 x86_64 wheels for
                                   CPython 3.11, installed by ``pip install --target`` and
                                   packed; YARN unpacks it as ``./environment`` in every
                                   container (``--archives``), so no node needs a package index
- ``recsys.zip``                   the project's modules for ``spark-submit --py-files``
- ``jobs/<step>.py``               the spark-submit entry point of every pipeline step
- ``conf/<name>.yaml``             the config (and the files it layers on with ``base:``)
- ``bootstrap.sh``                 the bootstrap action (an interpreter check; installs nothing)
- ``requirements-emr.txt``         the pins the environment was built from, for the record
- ``manifest.json``                written last: version, commit, checksums
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import yaml

import recsys
from recsys import steps as pipeline
from recsys.config import Config
from recsys.emr import definitions as defs

# What the cluster needs beside EMR's Spark: pinned exactly as requirements.txt pins them.
CLUSTER_REQUIREMENTS = ("numpy", "pandas", "pyarrow", "scipy", "PyYAML", "boto3")
PACKAGED_PATHS = ("recsys", "jobs", "conf", "emr", "setup.py", "requirements.txt")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same sources give the same bytes


class PackageError(RuntimeError):
    """The package cannot be built or uploaded; the message says why."""


def git_version(repo: Path = defs.REPO_ROOT) -> str:
    """Short commit sha of ``repo``, with ``-dirty`` if packaged paths have changes."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            raise PackageError(
                f"cannot read the git commit of {repo} ({exc}); pass --build-id"
            ) from None
        return done.stdout.strip()

    sha = git("rev-parse", "--short", "HEAD")
    present = [p for p in PACKAGED_PATHS if (repo / p).exists()]
    dirty = git("status", "--porcelain", "--", *present)
    return f"{sha}-dirty" if dirty else sha


def _source_files(root: Path, package: str = "recsys") -> list[tuple[str, bytes]]:
    files = []
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        files.append((path.relative_to(root).as_posix(), path.read_bytes()))
    return files


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.11"


def build_environment(
    requirements: list[str], wheel_dir: Path | None = None, pip: str | None = None
) -> bytes:
    """``requirements`` as CPython 3.11 manylinux2014 x86_64 wheels, installed into one folder
    by pip (``--only-binary=:all: --platform --python-version --implementation --abi``: no
    build, whatever this machine runs) and packed as a gzipped tar. From the package index,
    or only from ``wheel_dir`` (``--no-index --find-links``) when given."""
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="recsys-env-") as tmp:
        target = Path(tmp) / "environment"
        command = [
            pip or sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            "--only-binary=:all:",
            "--platform",
            PLATFORM,
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "--abi",
            "cp" + PYTHON_VERSION.replace(".", ""),
        ]
        if wheel_dir is not None:
            command += ["--no-index", "--find-links", str(wheel_dir)]
        done = subprocess.run([*command, *requirements], capture_output=True, text=True)
        if done.returncode != 0:
            where = f"wheels in {wheel_dir}" if wheel_dir else "the package index"
            raise PackageError(
                f"pip could not install {' '.join(requirements)} for CPython {PYTHON_VERSION} "
                f"{PLATFORM} from {where}:\n{done.stderr.strip()[-2000:]}"
            )
        return _tar_gz(target)


def _tar_gz(folder: Path) -> bytes:
    """``folder``'s contents (not the folder itself) as a tar.gz with fixed owners and times,
    so the same wheels give the same bytes."""
    import gzip
    import tarfile

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as archive:
            for path in sorted(folder.rglob("*")):
                if "__pycache__" in path.parts:
                    continue
                info = archive.gettarinfo(str(path), path.relative_to(folder).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isfile():
                    with path.open("rb") as data:
                        archive.addfile(info, data)
                else:
                    archive.addfile(info)
    return buffer.getvalue()


def cluster_requirements(requirements_txt: Path) -> list[str]:
    """``name==version`` for each of :data:`CLUSTER_REQUIREMENTS`, from requirements.txt."""
    pins: dict[str, str] = {}
    for line in requirements_txt.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match.group(1).lower()] = f"{match.group(1)}=={match.group(3)}"
    missing = [n for n in CLUSTER_REQUIREMENTS if n.lower() not in pins]
    if missing:
        raise PackageError(f"{requirements_txt}: no '==' pin for {', '.join(missing)}")
    return [pins[n.lower()] for n in CLUSTER_REQUIREMENTS]


def conf_chain(conf: Path) -> list[Path]:
    """``conf`` and every file it layers on with ``base:``, top first."""
    chain: list[Path] = []
    current: Path | None = conf
    while current is not None:
        if current in chain:
            raise PackageError(f"{conf}: 'base' chain loops back on itself")
        chain.append(current)
        data = yaml.safe_load(current.read_text(encoding="utf-8")) or {}
        base = data.get("base") if isinstance(data, dict) else None
        current = (current.parent / base) if base else None
    return chain


def build(
    cfg: Config,
    conf: Path,
    version: str,
    root: Path = defs.REPO_ROOT,
    wheel_dir: Path | None = None,
) -> dict[str, bytes]:
    """Every file of one package, by path relative to the version prefix (the environment's
    wheels from ``wheel_dir`` only, when given)."""
    requirements = cluster_requirements(root / "requirements.txt")
    files: dict[str, bytes] = {
        defs.ENV_ARCHIVE: build_environment(requirements, wheel_dir),
        defs.PYFILES_NAME: _zip(_source_files(root)),
        defs.REQUIREMENTS_NAME: ("\n".join(requirements) + "\n").encode(),
        defs.BOOTSTRAP: (defs.definitions_dir(cfg) / defs.BOOTSTRAP).read_bytes(),
    }
    for step in pipeline.STEPS:
        job = root / step.job_file
        if not job.is_file():
            raise PackageError(f"step {step.name}: entry point {step.job_file} not found")
        files[step.job_file] = job.read_bytes()
    for path in conf_chain(conf):
        files[f"conf/{path.name}"] = path.read_bytes()
    files[defs.MANIFEST_NAME] = manifest(version, files)
    return files


def manifest(version: str, files: dict[str, bytes]) -> bytes:
    doc: dict[str, Any] = {
        "version": version,
        "recsys_version": recsys.__version__,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "steps": [{"name": s.name, "job_file": s.job_file} for s in pipeline.STEPS],
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in sorted(files.items())
        },
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key


def existing_keys(s3: Any, prefix_uri: str) -> list[str]:
    bucket, key = split_s3(prefix_uri.rstrip("/") + "/")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def sse_arguments(kms_key: str | None) -> dict[str, str]:
    """``put_object`` arguments for SSE-KMS under ``kms_key`` (none: the bucket's default)."""
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}


def upload(
    s3: Any,
    layout: defs.CodeLayout,
    files: dict[str, bytes],
    force: bool = False,
    kms_key: str | None = None,
) -> list[str]:
    """Put ``files`` under the layout's version prefix (SSE-KMS under ``kms_key`` when given);
    refuse to overwrite unless ``force``."""
    bucket, _ = split_s3(layout.root)
    present = existing_keys(s3, layout.root)
    if present and not force:
        raise PackageError(
            f"{layout.root}/ already holds {len(present)} object(s): version {layout.version} "
            "is never overwritten (commit and package again, pass another --build-id, or --force)"
        )
    for key in present:
        s3.delete_object(Bucket=bucket, Key=key)
    uris = []
    ordered = [n for n in sorted(files) if n != defs.MANIFEST_NAME] + [defs.MANIFEST_NAME]
    for name in ordered:
        _, key = split_s3(layout.uri(name))
        # managed transfer: the environment is large enough for a multipart upload
        s3.upload_fileobj(
            io.BytesIO(files[name]), bucket, key, ExtraArgs=sse_arguments(kms_key) or None
        )
        uris.append(layout.uri(name))
    return uris
