"""Similarity search: blocked numpy top-N and the one exact neighbour search
(:mod:`~recsys.similarity.topn`), bounded BucketedRandomProjectionLSH with its recall check
(:mod:`~recsys.similarity.lsh`), the configured choice between them
(:mod:`~recsys.similarity.neighbours`), and song-to-song similarity from co-plays
(:mod:`~recsys.similarity.coplay`)."""
