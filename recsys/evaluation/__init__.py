"""Offline evaluation: the one hold-out splitter, ranking and beyond-accuracy metrics, paired
comparisons, reports, ALS tuning, and the protocol that runs every production model on a split.

:mod:`~recsys.evaluation.split` hides plays; :mod:`~recsys.evaluation.metrics` scores lists;
:mod:`~recsys.evaluation.compare` pairs two models user by user and cross-checks our metrics
with Spark ML; :mod:`~recsys.evaluation.report` writes the Markdown;
:mod:`~recsys.evaluation.tuning` searches the ALS grid; :mod:`~recsys.evaluation.protocol` fits
the recommenders of :mod:`recsys.models` on the split and scores them. Nothing here reads or
writes storage.
"""
