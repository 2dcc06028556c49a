"""spark-submit entry point: raw files -> interactions, users, songs, lyrics, quarantine."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("ingest", argv)


if __name__ == "__main__":
    sys.exit(main())
