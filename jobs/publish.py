"""spark-submit entry point: write the run manifest; move latest if the gates pass."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("publish", argv)


if __name__ == "__main__":
    sys.exit(main())
