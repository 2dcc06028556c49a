"""spark-submit entry point: content_vectors -> content_neighbours and lsh_recall.json."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("neighbours", argv)


if __name__ == "__main__":
    sys.exit(main())
