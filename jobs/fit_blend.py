"""spark-submit entry point: the hybrid's blend fitted on a validation split (blend.json)."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("fit-blend", argv)


if __name__ == "__main__":
    sys.exit(main())
