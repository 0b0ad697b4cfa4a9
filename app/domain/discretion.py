"""The discretion rule: a text a client may read never names HIV, AIDS,
drugs, methadone, injecting, a test result, testing or PrEP. The one
place for the list of sensitive words; the catalogue tests and the registry
(names and addresses a client sees) both check through here.

Texts are folded first (diacritics dropped, lower case), so `xét nghiệm`,
`Xet Nghiem` and `xet nghiem` are one word."""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.domain.errors import DomainError
from app.domain.text import strip_diacritics

SENSITIVE = re.compile(
    r"\b(hiv|aids|ma ?tuy|methadone|metadon|chich|heroin|drugs?|inject\w*|duong tinh|am tinh|"
    r"positive|negative|reactive|result|ket qua|xet nghiem|arv|art|prep)\b"
)


class Indiscreet(DomainError):
    """A text clients would see names a sensitive word."""

    key = "error.invalid"
    status = 422


def fold(text: str) -> str:
    """Lower case without diacritics: the form the sensitive words are matched in."""
    return strip_diacritics(text).lower()


def sensitive_words(text: str) -> list[str]:
    """The sensitive words `text` names (folded), in order; empty when discreet."""
    return SENSITIVE.findall(fold(text))


def check_client_visible(fields: Mapping[str, object]) -> None:
    """Raise Indiscreet for the first text field (name -> value) that names a
    sensitive word; values that are not text are skipped. The message names
    the field and the word."""
    for name, value in fields.items():
        if not isinstance(value, str):
            continue
        found = sensitive_words(value)
        if found:
            raise Indiscreet(
                f"{name} names {found[0]!r}: clients read it, so it must not name HIV, AIDS, drugs, "
                "methadone, injecting, testing, PrEP or a test result; use a neutral wording"
            )
