"""Which Spark each Amazon EMR 7.x release ships, and the Spark the project pins."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

# From the EMR Release Guide's "Spark release history" (emr-7.8.0 to emr-7.13.0 checked there;
# 7.0-7.7 as listed in the same history). EMR's builds are "<version>-amzn-N"; the Apache
# version is what pyspark must equal.
EMR_SPARK_VERSIONS: dict[str, str] = {
    "emr-7.0.0": "3.5.0",
    "emr-7.1.0": "3.5.0",
    "emr-7.2.0": "3.5.1",
    "emr-7.3.0": "3.5.1",
    "emr-7.4.0": "3.5.2",
    "emr-7.5.0": "3.5.2",
    "emr-7.6.0": "3.5.3",
    "emr-7.7.0": "3.5.3",
    "emr-7.8.0": "3.5.4",
    "emr-7.9.0": "3.5.5",
    "emr-7.10.0": "3.5.5",
    "emr-7.11.0": "3.5.6",
    "emr-7.12.0": "3.5.6",
    "emr-7.13.0": "3.5.6",
}

RELEASE_LABEL = re.compile(r"^emr-(\d+)\.(\d+)\.(\d+)$")
_PIN = re.compile(r"^\s*pyspark\s*==\s*([0-9][0-9A-Za-z.]*)\s*(#.*)?$")


def _version_key(label: str) -> tuple[int, ...]:
    match = RELEASE_LABEL.match(label)
    return tuple(int(g) for g in match.groups()) if match else (0,)


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


def releases_for_spark(spark_version: str) -> list[str]:
    """EMR 7.x release labels that ship ``spark_version``, oldest first."""
    labels = [k for k, v in EMR_SPARK_VERSIONS.items() if v == spark_version]
    return sorted(labels, key=_version_key)


def release_problem(label: str, spark_version: str) -> str | None:
    """Why ``label`` cannot run code built for ``spark_version``; None when it can."""
    match = RELEASE_LABEL.match(label)
    matching = ", ".join(releases_for_spark(spark_version)) or "none known"
    if not match:
        return f"{label!r} is not a release label like emr-7.13.0"
    if match.group(1) != "7":
        return f"{label} is not in the EMR 7.x line; use one of: {matching}"
    shipped = EMR_SPARK_VERSIONS.get(label)
    if shipped is None:
        return (
            f"{label} is not in recsys.emr.releases.EMR_SPARK_VERSIONS; check its Spark version "
            f"in the EMR release guide and add it (releases with Spark {spark_version}: {matching})"
        )
    if shipped != spark_version:
        return (
            f"{label} ships Spark {shipped} but pyspark is pinned to {spark_version} "
            f"(requirements.txt); use one of: {matching}"
        )
    return None
