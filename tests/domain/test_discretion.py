"""The discretion rule (`app.domain.discretion`): sensitive words found in
any spelling, neutral texts left alone, the refusal naming field and word."""

from __future__ import annotations

import pytest

from app.domain.discretion import Indiscreet, check_client_visible, sensitive_words
from app.messages import catalogue


@pytest.mark.parametrize(
    "text, words",
    [
        ("Cham soc HIV", ["hiv"]),
        ("Thuốc chống AIDS", ["aids"]),
        ("Co so dieu tri Methadone Tuan Giao", ["methadone"]),
        ("Phòng XÉT NGHIỆM", ["xet nghiem"]),
        ("ma tuy va chich", ["ma tuy", "chich"]),
        ("Tu van suc khoe", []),
        ("Phong kham Him Lam", []),
        ("Khu Prepa", []),  # a word that only starts like one
    ],
)
def test_sensitive_words_are_found_in_any_spelling(text, words):
    assert sensitive_words(text) == words


def test_the_refusal_names_the_field_and_the_word():
    with pytest.raises(Indiscreet) as refused:
        check_client_visible({"display_name": "Phong kham", "address": "Khu dieu tri methadone", "n": 3})
    assert "address" in str(refused.value) and "'methadone'" in str(refused.value)
    assert refused.value.status == 422
    check_client_visible({"display_name": "Phong kham Him Lam", "hours": "T2-T6 7:30-16:30"})


@pytest.mark.parametrize("language", ["en", "vi", "vi-ascii"])
def test_the_custom_reminder_texts_are_discreet(language):
    for key, text in catalogue(language).items():
        if key.startswith("reminder.custom_"):
            assert sensitive_words(text) == [], key


def test_the_demo_data_passes_the_rule_the_registry_applies():
    from app.demo import CLINICS, SERVICES
    from app.domain.registry import CLINIC_CLIENT_FIELDS, SERVICE_CLIENT_FIELDS

    for _code, _name, display, *_ in SERVICES:
        check_client_visible(dict(zip(SERVICE_CLIENT_FIELDS, [display], strict=True)))
    for _name, display, district, _province, address, hours, _services in CLINICS:
        check_client_visible(
            {"display_name": display, "district": district, "address": address, "hours": hours}
        )
    assert set(CLINIC_CLIENT_FIELDS) == {"display_name", "district", "address", "hours"}
