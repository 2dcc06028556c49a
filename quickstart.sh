#!/usr/bin/env bash
# One command for a newcomer: set up, generate the small sample data, run the whole pipeline
# on local Spark, and say where the results are and how to look at them.
#   ./quickstart.sh [--size tiny|small|large] [extra `recsys run` arguments, e.g. --set als.rank=16]
set -euo pipefail
cd "$(dirname "$0")"
size=small
if [ "${1:-}" = "--size" ]; then size="$2"; shift 2; fi
source scripts/setup-env.sh

data="data/sample-$size"
if [ ! -f "$data/_planted/planted.json" ]; then
  recsys sample-data --size "$size" --out "$data"
fi
recsys run --conf conf/local.yaml --set "input.dir=$data" "$@"
echo
echo "Open the viewer on these results:  .venv/bin/recsys viewer --warehouse warehouse"
