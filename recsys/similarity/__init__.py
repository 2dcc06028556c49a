"""Similarity search: blocked numpy top-N and the one exact neighbour search
(:mod:`~recsys.similarity.topn`), bounded BucketedRandomProjectionLSH with its recall check
(:mod:`~recsys.similarity.lsh`), and the configured choice between them
(:mod:`~recsys.similarity.neighbours`)."""
