#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Extra arguments go to pytest, e.g. ./test.sh -m "not integration"
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup-env.sh
# The s3a jars for the S3 job tests (requirements-s3a.txt, --no-deps): the tests' own.
s3a_want=$(sha1sum requirements-s3a.txt | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements-s3a.sha" 2>/dev/null)" != "$s3a_want" ]; then
  echo "installing the s3a test jars into $VENV (requirements-s3a.txt)"
  python -m pip install -q --no-deps -r requirements-s3a.txt
  echo "$s3a_want" > "$VENV/.requirements-s3a.sha"
fi
exec python -m pytest "$@"
