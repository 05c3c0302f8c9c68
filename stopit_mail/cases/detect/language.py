"""Which language each sentence is written in, offline, with py3langid.

Staff see the languages of a report, and a report with a sentence in a language the bank has no
reviewed examples for is never *routine*: the model's judgement there is a guess, so a person
looks. Very short sentences ("ok", "pls help") are identified unreliably by any character-n-gram
model, so a sentence counts as its own language only when it is long enough and the identifier
is confident; otherwise it takes the language of the whole report.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

# Below these, a sentence's own verdict is too noisy to act on.
MIN_WORDS = 4
MIN_CHARS = 20
# Chinese, Japanese and Thai are written without spaces; a few characters make a sentence.
MIN_CHARS_UNSPACED = 6
MIN_CONFIDENCE = 0.75
UNDETERMINED = "und"


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # noqa: PLC0415 - loads a 4 MB model

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identify(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of ``text``; ("und", 0.0) when there is nothing to judge."""
    if not text or not any(ch.isalpha() for ch in text):
        return UNDETERMINED, 0.0
    return _remembered(text) if len(text) <= MAX_REMEMBERED_CHARS else _classify(text)


def _classify(text: str) -> tuple[str, float]:
    lang, prob = _identifier().classify(text)
    return str(lang), float(prob)


# A sentence's language is a function of its text: the sentences of a flood of one message (and
# the greetings and sign-offs every report repeats) are identified once per process.
MAX_REMEMBERED_CHARS = 1_000
_remembered = lru_cache(maxsize=8192)(_classify)


def _long_enough(text: str) -> bool:
    # Scripts written without spaces (Chinese, Japanese, Thai) are judged by length instead.
    words = text.split()
    return len(words) >= MIN_WORDS or len(text) >= MIN_CHARS or (
        len(words) == 1 and not text.isascii() and len(text) >= MIN_CHARS_UNSPACED)


def sentence_languages(sentences: Sequence[str]) -> list[str]:
    """One language code per sentence: its own when clear, else the whole report's (identified
    only when some sentence needs it)."""
    own = [identify(s) if _long_enough(s) else (UNDETERMINED, 0.0) for s in sentences]
    if all(prob >= MIN_CONFIDENCE for _lang, prob in own):
        return [lang for lang, _prob in own]
    whole, whole_prob = identify(" ".join(sentences))
    fallback = whole if whole_prob >= 0.5 else UNDETERMINED
    return [lang if prob >= MIN_CONFIDENCE else fallback for lang, prob in own]
