"""The discretion rule, as one check every client-facing text goes through.
The words themselves live in `app.domain.discretion`, where the registry
checks the names and addresses clients see."""

from app.domain.discretion import SENSITIVE, fold, sensitive_words

__all__ = ["SENSITIVE", "assert_discreet", "fold", "sensitive_words"]


def assert_discreet(text: str) -> None:
    found = sensitive_words(text)
    assert not found, f"client-facing text names {found}: {text!r}"
