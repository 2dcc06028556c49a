#!/bin/bash
# EMR bootstrap action: runs on every node (primary, core, task) before applications start.
# Installs the pinned Python dependencies and the recsys wheel for the interpreter Spark uses.
#
#   bootstrap.sh <requirements-emr.txt S3 URI> <recsys wheel S3 URI> [python, default python3.11]
#
# EMR 7.x runs Amazon Linux 2023, whose python3 is 3.9; the project needs 3.11, which AL2023
# packages as python3.11. Spark is EMR's own: pyspark is never installed here.
set -euo pipefail

REQUIREMENTS_URI="${1:?usage: bootstrap.sh REQUIREMENTS_URI WHEEL_URI [PYTHON]}"
WHEEL_URI="${2:?usage: bootstrap.sh REQUIREMENTS_URI WHEEL_URI [PYTHON]}"
PYTHON="${3:-/usr/bin/python3.11}"
AWS="${AWS_CLI:-aws}"

log() { echo "[recsys bootstrap] $*"; }

if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
  log "installing python3.11 and pip"
  sudo dnf install -y python3.11 python3.11-pip
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$AWS" s3 cp "$REQUIREMENTS_URI" "$work/requirements-emr.txt"
"$AWS" s3 cp "$WHEEL_URI" "$work/"

log "installing $(tr '\n' ' ' < "$work/requirements-emr.txt")"
sudo "$PYTHON" -m pip install --quiet --no-cache-dir -r "$work/requirements-emr.txt"
# --no-deps: the pins above are the dependencies; the wheel must not pull anything else.
sudo "$PYTHON" -m pip install --quiet --no-cache-dir --no-deps --force-reinstall "$work"/*.whl

"$PYTHON" -c "import numpy, pandas, pyarrow, scipy, yaml, recsys; print('[recsys bootstrap] ok', recsys.__file__)"
