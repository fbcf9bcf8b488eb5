"""Sentiment of English posts with VADER, imported only when ``[sentiment] enabled = true``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from mention_monitor.models import Mention

#: VADER's own thresholds on the compound score.
NEGATIVE_AT = -0.05
POSITIVE_AT = 0.05
#: X's language code of the posts VADER scores; every other language is ``unknown``.
LANGUAGE = "en"

_analyzer: Any = None


def analyzer() -> Any:
    """VADER's analyzer, built once per process (it reads the lexicon shipped in the package)."""
    global _analyzer
    if _analyzer is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def label(compound: float) -> str:
    """``negative`` at or below -0.05, ``positive`` at or above 0.05, ``neutral`` between."""
    if compound <= NEGATIVE_AT:
        return "negative"
    if compound >= POSITIVE_AT:
        return "positive"
    return "neutral"


def score(mention: Mention) -> Mention:
    """``mention`` with its label and compound score (``unknown`` and no score if not English)."""
    if mention.sentiment:
        return mention  # scored once
    if mention.lang != LANGUAGE:
        return dataclasses.replace(mention, sentiment="unknown", sentiment_score=None)
    compound = float(analyzer().polarity_scores(mention.text)["compound"])
    return dataclasses.replace(mention, sentiment=label(compound), sentiment_score=compound)


def score_all(mentions: Iterable[Mention]) -> list[Mention]:
    return [score(m) for m in mentions]
