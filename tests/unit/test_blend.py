"""recsys.models.blend.rerank on hand-computed cases (the contract the Spark hybrid must match).

The alpha curve is in test_blend_agreement.py (both implementations against each other).
"""

import numpy as np
import pandas as pd
import pytest

from recsys import schemas
from recsys.errors import BlendError
from recsys.models.blend import rerank


def _candidates(user_alpha: dict[int, float] | None = None) -> pd.DataFrame:
    """Three songs per user: 10 is all-cf, 11 all-content, 12 half and half."""
    user_alpha = user_alpha or {1: 0.7}
    rows = []
    for user, alpha in user_alpha.items():
        rows += [
            (user, 10, 1.0, 0.0, 0.5, alpha, "A"),
            (user, 11, 0.0, 1.0, 0.1, alpha, "B"),
            (user, 12, 0.5, 0.5, 0.9, alpha, "A"),
        ]
    frame = pd.DataFrame(
        rows,
        columns=[
            schemas.USER,
            schemas.SONG,
            schemas.CF_SCORE,
            schemas.CONTENT_SCORE,
            schemas.POPULARITY,
            schemas.ALPHA,
            schemas.ARTIST,
        ],
    )
    frame[schemas.RANK] = 0
    frame[schemas.SCORE] = 0.0
    return frame


def _songs(result: pd.DataFrame, user: int = 1) -> list[int]:
    return result[result[schemas.USER] == user][schemas.SONG].tolist()


@pytest.mark.parametrize(
    ("alpha", "expected_order", "expected_scores"),
    [
        (0.8, [10, 12, 11], [0.8, 0.5, 0.2]),
        (0.2, [11, 12, 10], [0.8, 0.5, 0.2]),
        (0.5, [10, 11, 12], [0.5, 0.5, 0.5]),  # a three-way tie: song_idx ascending
        (1.0, [10, 12, 11], [1.0, 0.5, 0.0]),
        (0.0, [11, 12, 10], [1.0, 0.5, 0.0]),
    ],
)
def test_alpha_blends_cf_and_content(alpha, expected_order, expected_scores):
    result = rerank(_candidates(), alpha=alpha, novelty=0.0, max_per_artist=0, top_n=10)
    assert _songs(result) == expected_order
    assert result[schemas.RANK].tolist() == [1, 2, 3]
    np.testing.assert_allclose(result[schemas.SCORE], expected_scores, atol=1e-6)
    np.testing.assert_allclose(result[schemas.ALPHA], alpha, atol=1e-6)


def test_ties_in_the_stored_float32_score_go_to_the_lower_song_idx():
    frame = _candidates()
    frame[schemas.CF_SCORE] = [0.5, 0.5 + 1e-10, 0.1]  # 10 and 11 differ only below float32
    result = rerank(frame, alpha=1.0, novelty=0.0, max_per_artist=0, top_n=10)
    assert _songs(result) == [10, 11, 12]
    assert result[schemas.SCORE].dtype == np.float32
    frame[schemas.CF_SCORE] = [0.5, 0.5 + 1e-6, 0.1]  # a float32-visible difference wins
    result = rerank(frame, alpha=1.0, novelty=0.0, max_per_artist=0, top_n=10)
    assert _songs(result) == [11, 10, 12]


def test_novelty_mixes_in_unpopularity():
    # alpha 0.5 gives blended 0.5 for all; score = 0.5*0.5 + 0.5*(1 - popularity)
    result = rerank(_candidates(), alpha=0.5, novelty=0.5, max_per_artist=0, top_n=10)
    assert _songs(result) == [11, 10, 12]
    np.testing.assert_allclose(result[schemas.SCORE], [0.7, 0.5, 0.3], atol=1e-6)


def test_artist_cap_drops_songs_behind_the_artists_quota():
    # alpha 0.8 orders 10 (A), 12 (A), 11 (B): with one song per artist 12 goes
    result = rerank(_candidates(), alpha=0.8, novelty=0.0, max_per_artist=1, top_n=10)
    assert _songs(result) == [10, 11]
    assert result[schemas.RANK].tolist() == [1, 2]
    result = rerank(_candidates(), alpha=0.8, novelty=0.0, max_per_artist=2, top_n=10)
    assert _songs(result) == [10, 12, 11]


def test_null_artist_is_its_own_artist_per_song():
    frame = _candidates()
    frame[schemas.ARTIST] = None
    result = rerank(frame, alpha=0.8, novelty=0.0, max_per_artist=1, top_n=10)
    assert _songs(result) == [10, 12, 11]


def test_top_n_cuts_after_the_cap():
    result = rerank(_candidates(), alpha=0.8, novelty=0.0, max_per_artist=1, top_n=1)
    assert _songs(result) == [10]
    assert result[schemas.RANK].tolist() == [1]


def test_stored_alpha_is_used_per_user_when_alpha_is_none():
    frame = _candidates({1: 0.8, 2: 0.2})
    result = rerank(frame, alpha=None, novelty=0.0, max_per_artist=0, top_n=10)
    assert _songs(result, 1) == [10, 12, 11]
    assert _songs(result, 2) == [11, 12, 10]
    assert result[schemas.USER].tolist() == [1, 1, 1, 2, 2, 2]
    np.testing.assert_allclose(result[schemas.ALPHA], [0.8] * 3 + [0.2] * 3, atol=1e-6)
    # an explicit alpha overrides every user's stored one
    result = rerank(frame, alpha=0.2, novelty=0.0, max_per_artist=0, top_n=10)
    assert _songs(result, 1) == _songs(result, 2) == [11, 12, 10]


def test_keeps_columns_and_rejects_bad_parameters():
    frame = _candidates()
    result = rerank(frame, alpha=0.3, novelty=0.0, max_per_artist=0, top_n=2)
    assert list(result.columns) == list(frame.columns)
    assert rerank(frame.iloc[0:0], alpha=0.3, novelty=0.0, max_per_artist=1, top_n=2).empty
    with pytest.raises(BlendError, match="alpha"):
        rerank(frame, alpha=1.5, novelty=0.0, max_per_artist=0, top_n=2)
    with pytest.raises(BlendError, match="novelty"):
        rerank(frame, alpha=0.5, novelty=-0.1, max_per_artist=0, top_n=2)
    with pytest.raises(BlendError, match="top_n"):
        rerank(frame, alpha=0.5, novelty=0.0, max_per_artist=0, top_n=0)
    with pytest.raises(BlendError, match="cf_score"):
        rerank(
            frame.drop(columns=schemas.CF_SCORE), alpha=0.5, novelty=0, max_per_artist=0, top_n=2
        )
