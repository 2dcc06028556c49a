"""spark-submit entry point: interactions -> ALS factors, model, cf_user_topn, cf_neighbours."""

import sys

from recsys.steps.job import run_job


def main(argv=None) -> int:
    return run_job("train-als", argv)


if __name__ == "__main__":
    sys.exit(main())
