#!/usr/bin/env bash
# Create .venv and install the project's requirements into it (idempotent, quick when done).
# Sourced by quickstart.sh, test.sh and .ci/run.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RECSYS_VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"

if ! command -v java >/dev/null 2>&1; then
  echo "error: Java 17 is required by Spark and was not found on PATH." >&2
  echo "       Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless" >&2
  echo "       macOS: brew install openjdk@17   (then put it on PATH or set JAVA_HOME)" >&2
  exit 1
fi
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
if [ "${java_major:-0}" -lt 17 ]; then
  echo "error: Spark 3.5 here needs Java 17; found Java ${java_major:-unknown} ($(command -v java))." >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: Python 3.11 or newer is required ($PYTHON is $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi

stamp="$VENV/.requirements.sha"
want=$(cat "$REPO/requirements.txt" "$REPO/setup.py" | sha1sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing requirements into $VENV (first time: a few minutes, pyspark builds from source)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  (cd "$REPO" && "$VENV/bin/python" -m pip install -q -r requirements.txt)
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export PYSPARK_PYTHON="$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
