"""The "did you mean" suggestion every error about a misspelt name carries."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, choices: Iterable[str], otherwise: str = "") -> str:
    """`did you mean 'x'?` for the choice closest to `word`, or `otherwise` if none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else otherwise
