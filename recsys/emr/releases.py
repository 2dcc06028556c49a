"""Which Spark an EMR release ships and which instance types it supports, asked of EMR.

``DescribeReleaseLabel`` gives a release's applications (``Name`` like ``spark``, ``Version``
like ``3.5.6``) and ``ListSupportedInstanceTypes`` the instance types a release supports in
the client's region. Where an endpoint lacks them (moto lacks ``DescribeReleaseLabel``), or
the caller may not call them, the checks fall back to what needs no call and say so: the
documented line "EMR 7.x ships Spark 3.5" (:data:`SPARK_LINE`) and the instance-type shape
check of :mod:`recsys.emr.checks`. Offline code (``checks``, ``recsys emr render``) only uses
the label's shape and :data:`SPARK_LINE`; the functions taking a client are the only ones
that call AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from recsys.emr.reachable import why_unreachable

# The EMR Release Guide's "Amazon EMR 7.x release versions": every 7.x release ships Spark
# 3.5.x. The one fact the fallback uses; the exact patch comes from DescribeReleaseLabel.
SPARK_LINE: dict[str, str] = {"7": "3.5"}

RELEASE_LABEL = re.compile(r"^emr-(\d+)\.(\d+)\.(\d+)$")
_PIN = re.compile(r"^\s*pyspark\s*==\s*([0-9][0-9A-Za-z.]*)\s*(#.*)?$")


def major_minor_patch(version: str) -> str:
    """``3.5.6.dev0`` or ``3.5.6-amzn-2`` -> ``3.5.6``."""
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return ".".join(match.groups())


def pinned_spark_version(requirements: Path | None = None) -> str:
    """The Spark version the project runs: the installed pyspark, else the requirements pin."""
    try:
        return major_minor_patch(metadata.version("pyspark"))
    except metadata.PackageNotFoundError:
        pass
    path = requirements or Path(__file__).resolve().parents[2] / "requirements.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            return major_minor_patch(match.group(1))
    raise ValueError(f"no pyspark==X.Y.Z pin in {path}")


def label_problem(label: str, spark_version: str) -> str | None:
    """What can be told of ``label`` without AWS: its shape, and that its EMR line ships the
    pinned Spark's major.minor (:data:`SPARK_LINE`). None when it may run the code."""
    match = RELEASE_LABEL.match(label)
    if not match:
        return f"{label!r} is not a release label like emr-7.13.0"
    line = SPARK_LINE.get(match.group(1))
    if line is None:
        return f"{label} is not in the EMR 7.x line (Spark 3.5); use an emr-7.x.y release"
    if not spark_version.startswith(line + "."):
        return (
            f"{label}: EMR {match.group(1)}.x ships Spark {line}.x but pyspark is pinned to "
            f"{spark_version} (requirements.txt)"
        )
    return None


# --------------------------------------------------------------------------- Spark


@dataclass(frozen=True)
class SparkCheck:
    """What the release check found: ``problem`` None means the release may run the code."""

    label: str
    source: str
    spark: str | None = None
    problem: str | None = None

    def note(self) -> str:
        found = f"Spark {self.spark}" if self.spark else "Spark version not asked"
        return f"release {self.label}: {found} ({self.source})"


def release_spark(emr: Any, label: str) -> str | None:
    """The Spark version ``DescribeReleaseLabel`` lists for ``label`` (None: no Spark)."""
    response = emr.describe_release_label(ReleaseLabel=label)
    for app in response.get("Applications", []):
        # the API reference's example name is lowercase ("hadoop"); compare without case
        if str(app.get("Name", "")).lower() == "spark" and app.get("Version"):
            return str(app["Version"])
    return None


def fallback_reason(exc: ClientError | BotoCoreError) -> str | None:
    """Why a check falls back: the endpoint lacks the call, cannot be reached, or the caller
    may not make it. None for a real answer (such as a refused label)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    if code in ("AccessDeniedException", "AccessDenied"):
        return f"not allowed ({code}; see emr/iam/operator.json)"
    return why_unreachable(exc)


def refused(exc: ClientError) -> str | None:
    """The message of a request EMR refused (an unknown release label, say)."""
    error = exc.response.get("Error", {})
    if error.get("Code") in ("InvalidRequestException", "ValidationException"):
        return error.get("Message") or error["Code"]
    return None


def check_spark(emr: Any, label: str, spark_version: str) -> SparkCheck:
    """Does ``label`` ship exactly ``spark_version``? Asked of ``DescribeReleaseLabel``;
    where the call is unavailable, only :func:`label_problem`'s major.minor check is made."""
    try:
        shipped = release_spark(emr, label)
    except (ClientError, BotoCoreError) as exc:
        reason = fallback_reason(exc)
        if reason is not None:
            major = RELEASE_LABEL.match(label)
            line = SPARK_LINE.get(major.group(1), "?") if major else "?"
            source = (
                f"fallback: DescribeReleaseLabel {reason}; only checked that EMR "
                f"{major.group(1) if major else '?'}.x ships Spark {line}.x, not the patch"
            )
            return SparkCheck(label, source, problem=label_problem(label, spark_version))
        message = refused(exc) if isinstance(exc, ClientError) else None
        if message is None:
            raise
        return SparkCheck(label, "DescribeReleaseLabel", problem=f"{label}: {message}")
    if shipped is None:
        return SparkCheck(label, "DescribeReleaseLabel", problem=f"{label} lists no Spark")
    shipped = major_minor_patch(shipped)
    problem = None
    if shipped != spark_version:
        problem = (
            f"{label} ships Spark {shipped} (DescribeReleaseLabel) but pyspark is pinned to "
            f"{spark_version} (requirements.txt); use a release with Spark {spark_version}"
        )
    return SparkCheck(label, "DescribeReleaseLabel", shipped, problem)


# --------------------------------------------------------------------------- instance types


@dataclass(frozen=True)
class InstanceTypesCheck:
    """The configured instance types against what the release supports in the region."""

    label: str
    source: str
    problems: tuple[str, ...] = ()

    def note(self) -> str:
        return f"instance types for {self.label}: {self.source}"


def supported_instance_types(emr: Any, label: str) -> set[str]:
    """Every ``Type`` ``ListSupportedInstanceTypes`` gives for ``label``, all pages (botocore
    has no paginator for it: the ``Marker`` is followed here)."""
    types: set[str] = set()
    request: dict[str, str] = {"ReleaseLabel": label}
    seen: set[str] = set()
    while True:
        page = emr.list_supported_instance_types(**request)
        types.update(t["Type"] for t in page.get("SupportedInstanceTypes", []) if "Type" in t)
        marker = page.get("Marker")
        if not marker or marker in seen:
            return types
        seen.add(marker)
        request["Marker"] = marker


def check_instance_types(
    emr: Any, label: str, region: str, configured: dict[str, list[str]]
) -> InstanceTypesCheck:
    """Refuse each type in ``configured`` (config key -> types) that ``label`` does not
    support in ``region``. Where the call is unavailable, the shape check is all there is."""
    try:
        supported = supported_instance_types(emr, label)
    except (ClientError, BotoCoreError) as exc:
        reason = fallback_reason(exc)
        if reason is not None:
            source = f"fallback: ListSupportedInstanceTypes {reason}; only their shape is checked"
            return InstanceTypesCheck(label, source)
        message = refused(exc) if isinstance(exc, ClientError) else None
        if message is None:
            raise
        problem = f"emr.release_label: ListSupportedInstanceTypes refused {label}: {message}"
        return InstanceTypesCheck(label, "ListSupportedInstanceTypes", (problem,))
    problems = tuple(
        f"{key}[{i}]: {itype} is not supported by {label} in {region} "
        "(ListSupportedInstanceTypes); choose another type"
        for key, types in configured.items()
        for i, itype in enumerate(types)
        if itype not in supported
    )
    source = f"supported in {region} (ListSupportedInstanceTypes, {len(supported)} types)"
    return InstanceTypesCheck(label, source, problems)
