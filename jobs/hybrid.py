"""spark-submit entry point: per-user and per-song hybrid top-N tables."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("hybrid", argv)


if __name__ == "__main__":
    sys.exit(main())
