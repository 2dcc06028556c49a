"""spark-submit entry point: ranking metrics of every model on held-out plays."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("evaluate", argv)


if __name__ == "__main__":
    sys.exit(main())
