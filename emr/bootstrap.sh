#!/bin/bash
# EMR bootstrap action: runs on every node (primary, core, task) before applications start.
# It installs nothing: the pinned packages reach every container in the packed environment
# (spark-submit --archives <code>/env.tar.gz#environment, built by `recsys emr package`), so a
# boot needs no package index. It only checks that the interpreter the steps name is there
# (EMR 7.1+ lists Python 3.9 and 3.11 among its components), so a node without it fails at
# boot, by name, instead of every step failing later.
#
#   bootstrap.sh [python, default /usr/bin/python3.11]
set -euo pipefail

PYTHON="${1:-/usr/bin/python3.11}"

if ! found="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"; then
  echo "[recsys bootstrap] $PYTHON not found on $(hostname): use EMR 7.1 or later (Python 3.11 component), or set emr.python" >&2
  exit 1
fi
if [ "$found" != "3.11" ]; then
  echo "[recsys bootstrap] $PYTHON is Python $found; the packed environment is built for 3.11" >&2
  exit 1
fi
echo "[recsys bootstrap] ok: $PYTHON is Python $found"
