"""Content features: per-song vectors from lyrics (TF-IDF, Word2Vec, LDA) and metadata.

:mod:`~recsys.features.tokens` turns bags of words and metadata into tokens and projects them;
:mod:`~recsys.features.lyrics` fits IDF, Word2Vec and LDA; :mod:`~recsys.features.combine`
imputes, centres, concatenates and reduces the parts; :mod:`~recsys.features.vectors` is
``build_content``, the sequence of those steps.
"""
