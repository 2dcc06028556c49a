#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Extra arguments go to pytest, e.g. ./test.sh -m "not integration"
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup-env.sh
exec python -m pytest "$@"
