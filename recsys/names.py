"""Column names, table names, document names and reason codes: plain strings, no pyspark.

The viewer and the EMR tooling import these without Spark installed; :mod:`recsys.schemas`
builds the Spark ``StructType`` of each table from them.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------- columns
USER = "user_idx"
SONG = "song_idx"
USER_ID = "user_id"
SONG_ID = "song_id"
TRACK_ID = "track_id"
PLAYS = "plays"
ARTIST = "artist"
TITLE = "title"
SCORE = "score"
RANK = "rank"
NEIGHBOUR = "neighbour_idx"
SIMILARITY = "similarity"
FEATURES = "features"
WORD_IDX = "word_idx"
WORD_COUNT = "word_count"
WORD = "word"

# ----------------------------------------------------------------------------- tables
INTERACTIONS = "interactions"
USERS = "users"
SONGS = "songs"
LYRICS = "lyrics"
VOCABULARY = "vocabulary"
QUARANTINE = "quarantine"
USER_FACTORS = "user_factors"
ITEM_FACTORS = "item_factors"
CF_USER_TOPN = "cf_user_topn"
CF_NEIGHBOURS = "cf_neighbours"
COPLAY_NEIGHBOURS = "coplay_neighbours"
CONTENT_VECTORS = "content_vectors"
LDA_TOPICS = "lda_topics"
CONTENT_NEIGHBOURS = "content_neighbours"
USER_RECOMMENDATIONS = "user_recommendations"
USER_CANDIDATES = "user_candidates"
SIMILAR_SONGS = "similar_songs"
METRICS = "metrics"
RUN_COMPARISON = "run_comparison"  # publish: tonight against the last published run

# Small JSON documents written next to the tables of a run.
QUALITY_REPORT = "quality_report.json"
MANIFEST = "manifest.json"
PRUNED = "pruned.json"  # `recsys runs prune` deleted the run's tables (recsys.storage.retention)

# ----------------------------------------------------------------------------- quarantine
# Reasons a raw line is kept aside. "malformed" reasons count against the bad-fraction gate;
# "filtered" ones are lines that parse but are removed on purpose (kept for audit).
MALFORMED_REASONS = (
    "empty_line",
    "wrong_field_count",
    "empty_id",
    "bad_id",
    "bad_play_count",
    "play_count_out_of_range",
    "bad_encoding",
    "unparseable_mismatch",
    "bad_word_count",
    "word_index_out_of_range",
    "bad_mxm_id",
)
FILTERED_REASONS = ("song_in_mismatch_list",)
MALFORMED = "malformed"
FILTERED = "filtered"

# ----------------------------------------------------------------------------- schemas


# ----------------------------------------------------------------------------- hybrid tables
# user_candidates holds top_n + extra_candidates rows per user with both normalised
# component scores, so a reader can re-blend with another alpha (recsys.blend) without Spark.
# user_recommendations is the final top_n after diversity rules, same columns.
CF_SCORE = "cf_score"
CONTENT_SCORE = "content_score"
ITEM_SCORE = "item_score"  # the item-based (co-play) model's score, per-user min-max
POPULARITY = "popularity"
ALPHA = "alpha"
REASON = "reason"
REASON_SONG = "reason_song_idx"
SIMILAR = "similar_idx"
SOURCE = "source"
IS_COLD = "is_cold"


EVALUATION_JSON = "evaluation.json"
EVALUATION_MD = "evaluation.md"

# ----------------------------------------------------------------------------- evaluation
# Metric names in the metrics table (its "metric" column); reports and gates say metric@k.
METRIC_PRECISION = "precision"
METRIC_RECALL = "recall"
METRIC_NDCG = "ndcg"
METRIC_MAP = "map"
METRIC_COVERAGE = "coverage"
METRIC_DIVERSITY = "diversity"
RANKING_METRICS = (METRIC_PRECISION, METRIC_RECALL, METRIC_NDCG, METRIC_MAP)
METRIC_NAMES = (*RANKING_METRICS, METRIC_COVERAGE, METRIC_DIVERSITY)
MODEL_POPULARITY = "popularity"

# ----------------------------------------------------------------------------- collaborative (ALS)
# Written by the train-als step next to its tables: the fitted Spark ALSModel (a folder under
# the run's models/), the parameters it was fitted with, and the hyper-parameter search table.
ALS_MODEL = "als"
ALS_PARAMS = "als_params.json"
ALS_TUNING = "als_tuning.json"
# ----------------------------------------------------------------------------- the blend
# Written by the fit-blend step: the blend the hybrid uses (fitted on a validation split, or
# the configured one), and the factors of the one ALS refit that hides the validation and the
# evaluation's held-out plays (the evaluate step scores with them instead of refitting).
BLEND = "blend.json"
HOLDOUT_USER_FACTORS = "holdout_user_factors"
HOLDOUT_ITEM_FACTORS = "holdout_item_factors"
# ... and the co-play neighbours of the refit's plays (the item-based model on the same split).
HOLDOUT_COPLAY_NEIGHBOURS = "holdout_coplay_neighbours"
# ... and the refit's collaborative neighbours (als.neighbours_method, as train-als computes
# production's), so neither the blend fit nor the evaluation scores the catalogue again.
HOLDOUT_CF_NEIGHBOURS = "holdout_cf_neighbours"
# ----------------------------------------------------------------------------- item-based CF
# Written by the train-itemknn step beside coplay_neighbours: its settings and counts.
ITEMKNN_PARAMS = "itemknn_params.json"
MODEL_ITEMKNN = "itemknn"
# ----------------------------------------------------------------------------- content tables
# content_vectors: one row per song of the catalogue. ``features`` is the combined unit vector
# (content.dim floats; all zeros when a song has neither lyrics nor usable metadata, which
# content_source then says). ``topics`` is the LDA topic mixture (null without lyrics).
TOPIC = "topic"
TOPICS = "topics"
TOP_TOPIC = "top_topic"
HAS_LYRICS = "has_lyrics"
CONTENT_SOURCE = "content_source"
WEIGHT = "weight"
# content_source values
SOURCE_LYRICS_METADATA = "lyrics+metadata"
SOURCE_LYRICS = "lyrics"
SOURCE_METADATA_ARTIST = "metadata+artist_lyrics"  # no lyrics: metadata + artist's lyric profile
SOURCE_METADATA = "metadata"
SOURCE_NONE = "none"
CONTENT_SOURCES = (
    SOURCE_LYRICS_METADATA,
    SOURCE_LYRICS,
    SOURCE_METADATA_ARTIST,
    SOURCE_METADATA,
    SOURCE_NONE,
)


# Written by the neighbours step next to content_neighbours.
LSH_RECALL = "lsh_recall.json"
