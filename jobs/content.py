"""spark-submit entry point: ingest tables -> content_vectors and lda_topics."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("content", argv)


if __name__ == "__main__":
    sys.exit(main())
