"""spark-submit entry point: interactions -> co-play neighbours (the item-based model)."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("train-itemknn", argv)


if __name__ == "__main__":
    sys.exit(main())
