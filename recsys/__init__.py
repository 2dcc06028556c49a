"""recsys: a batch music recommender on Apache Spark."""

__version__ = "0.1.0"
