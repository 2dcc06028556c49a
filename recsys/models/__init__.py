"""Recommenders, each of the shape in :mod:`~recsys.models.base` (fit, recommend,
similar_items): :mod:`~recsys.models.popularity` (the baseline), :mod:`~recsys.models.als`
(implicit ALS), :mod:`~recsys.models.content` (content neighbours of what was played),
:mod:`~recsys.models.itemknn` (item-based, co-play neighbours; not yet in the hybrid) and
:mod:`~recsys.models.hybrid` (the blend). :mod:`~recsys.models.candidates` pools neighbours of
played songs; :mod:`~recsys.models.blend` states the blend's rules in pandas for the viewer.
This package's ``__init__`` imports nothing: the viewer imports ``blend`` without pyspark.
"""
