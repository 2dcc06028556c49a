"""Readable pseudo-words, and the artist names and song titles made from them.

Names carry what real catalogues carry: accented letters, CJK titles, ``<`` and ``>``.
"""

from __future__ import annotations

import numpy as np

_ONSETS = (*"b d f g k l m n p r s t v z ch sh th br dr kr st tr fl gl".split(), "")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou", "ee", "ia")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "k", "nd", "st")
_ACCENTS = {"e": "é", "o": "ö", "n": "ñ", "a": "á", "u": "ü"}
_CJK = "花月夜雨心愛風光星空海山夢歌春秋雪火水天"


def pseudo_words(rng: np.random.Generator, n: int, max_syllables: int = 3) -> list[str]:
    """``n`` unique readable lowercase pseudo-words built from syllables."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        batch = max(64, 2 * (n - len(out)))
        n_syl = rng.integers(1, max_syllables + 1, size=batch)
        on = rng.integers(0, len(_ONSETS), size=(batch, max_syllables))
        nu = rng.integers(0, len(_NUCLEI), size=(batch, max_syllables))
        co = rng.integers(0, len(_CODAS), size=batch)
        for i in range(batch):
            k = int(n_syl[i])
            word = "".join(_ONSETS[on[i, j]] + _NUCLEI[nu[i, j]] for j in range(k))
            word += _CODAS[co[i]]
            if len(word) >= 2 and word not in seen:
                seen.add(word)
                out.append(word)
                if len(out) == n:
                    break
    return out


def _accent(word: str, rng: np.random.Generator) -> str:
    """Replace one accentable letter of ``word`` by its accented form."""
    spots = [i for i, c in enumerate(word) if c in _ACCENTS]
    if not spots:
        return word
    i = spots[int(rng.integers(len(spots)))]
    return word[:i] + _ACCENTS[word[i]] + word[i + 1 :]


def _cjk(rng: np.random.Generator) -> str:
    """Two to four CJK characters."""
    return "".join(_CJK[int(i)] for i in rng.integers(0, len(_CJK), size=int(rng.integers(2, 5))))


def artist_names(rng: np.random.Generator, n: int, words: list[str]) -> list[str]:
    """Unique artist names: pseudo-words, some accented, CJK, or with ``<``/``>``."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        w = [words[int(i)].capitalize() for i in rng.integers(0, len(words), size=2)]
        style = int(rng.integers(0, 6))
        name = (
            w[0],
            f"The {w[0]}s",
            f"{w[0]} {w[1]}",
            f"{w[0]} & the {w[1]}s",
            f"DJ {w[0]}",
            f"{w[0]} {w[1]}",
        )[style]
        r = rng.random()
        if r < 0.08:
            name = _accent(name, rng)
        elif r < 0.11:
            name = _cjk(rng)
        elif r < 0.125:
            name = f"<{w[0]}>" if rng.random() < 0.5 else f"{w[0]} >> {w[1]}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def titles(rng: np.random.Generator, n: int, words: list[str]) -> list[str]:
    """Song titles: 1 to 4 title-cased pseudo-words with occasional extras."""
    n_words = rng.integers(1, 5, size=n)
    picks = rng.integers(0, len(words), size=(n, 4))
    r = rng.random(n)
    extra = rng.integers(0, 4, size=n)
    out: list[str] = []
    for i in range(n):
        title = " ".join(words[int(j)].capitalize() for j in picks[i, : n_words[i]])
        if r[i] < 0.08:
            title += (" (Live)", " (Remix)", " (Album Version)", " (Acoustic)")[extra[i]]
        elif r[i] < 0.13:
            title = _accent(title, rng)
        elif r[i] < 0.15:
            title = _cjk(rng)
        elif r[i] < 0.165:
            a, b = words[int(picks[i, 0])].capitalize(), words[int(picks[i, 1])].capitalize()
            title = (f"<3 {a}", f"{a} -> {b}", f"<{a}>", f"{a} > {b}")[extra[i]]
        out.append(title)
    return out
