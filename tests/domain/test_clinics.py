"""Clinics, the domain (`app.domain.clinics`): finding the clinic a worker
or a desk names, the search text of CLINIC (hypothesis), the listing
order, full addresses and service labels."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import clinics, errors
from app.messages import languages
from app.models import Clinic, Service
from tests.discretion import assert_discreet
from tests.factories import clinic_named


def test_resolve_clinic_by_number_or_name_fragment(demo):
    him_lam = clinic_named(demo, "Phong kham Him Lam")
    assert clinics.resolve_clinic(demo, str(him_lam.id)).id == him_lam.id
    assert clinics.resolve_clinic(demo, "him lâm").id == him_lam.id
    with pytest.raises(errors.AmbiguousClinic):
        clinics.resolve_clinic(demo, "Phong kham")
    with pytest.raises(errors.UnknownClinic):
        clinics.resolve_clinic(demo, "Sapa")
    with pytest.raises(errors.UnknownClinic):
        clinics.resolve_clinic(demo, "9999")


def test_resolve_clinic_ignores_spaces(demo):
    him_lam = clinic_named(demo, "Phong kham Him Lam")
    assert clinics.resolve_clinic(demo, "HimLam").id == him_lam.id
    assert clinics.resolve_clinic(demo, "phòngkhámhimlâm").id == him_lam.id


# ---------------------------------------------------------------- search text

WORDS = {"VCT": ["xet nghiem", "test"], "MMT": ["methadone"], "PREP": ["prep"]}
_letters = st.text(alphabet="abcdeghiklmnopqrstuvxy ", max_size=30)


def _respaced(text: str, cuts: list[int]) -> str:
    """`text` with its spaces dropped and put back at other places."""
    bare = text.replace(" ", "")
    return "".join(ch + (" " if i in cuts else "") for i, ch in enumerate(bare))


@given(_letters, st.lists(st.integers(0, 40), max_size=6), st.booleans())
def test_a_search_text_means_the_same_whatever_its_case_spaces_and_diacritics(text, cuts, upper):
    typed = _respaced(text, cuts)
    typed = typed.upper() if upper else typed
    assert clinics.parse_search(typed, WORDS) == clinics.parse_search(text, WORDS)
    assert clinics.search_key(typed) == clinics.search_key(text)


@given(st.sampled_from(sorted(WORDS)), st.data(), st.sampled_from(["dien bien", "Hà Nội", "", "MuongThanh"]))
def test_a_service_word_is_found_and_taken_out_of_the_place(code, data, place):
    phrase = data.draw(st.sampled_from(WORDS[code]))
    before = data.draw(st.booleans())
    typed = f"{phrase} {place}" if before else f"{place} {phrase.upper()}"
    search = clinics.parse_search(typed, WORDS)
    assert search.services == {code}
    assert search.place == clinics.search_key(place)


@given(st.text(max_size=100))
def test_any_search_text_parses_without_error(text):
    search = clinics.parse_search(text, clinics.catalogue_service_words())
    assert search.services <= set(clinics.catalogue_service_words())
    assert search.place == search.place.lower() and " " not in search.place


def test_search_key_folds_vietnamese():
    assert clinics.search_key("Phòng khám Mường Thanh") == clinics.search_key("phongkham MUONGTHANH")
    assert clinics.search_key("Đống Đa") == "dongda"


# ---------------------------------------------------------------- listing order, addresses, labels


class _Row(NamedTuple):
    id: int
    display_name: str
    district: str
    province: str


def test_listing_order_is_province_by_size_then_name_then_district():
    rows = [
        _Row(1, "A", "Dong Da", "Ha Noi"),
        _Row(2, "B", "Muong Cha", "Dien Bien"),
        _Row(3, "C", "Ba Dinh", "Ha Noi"),
        _Row(4, "D", "Sa Pa", "Lao Cai"),
        _Row(5, "E", "Somewhere", ""),
        _Row(6, "F", "Dong Da", ""),  # no province: that of its district
    ]
    assert [r.id for r in clinics.in_listing_order(rows)] == [3, 1, 6, 2, 4, 5]


def test_full_address_names_district_and_province_once():
    clinic = Clinic(name="x", display_name="x", district="Ba Dinh", province="Ha Noi", address="5 Tran Phu")
    assert clinics.full_address(clinic) == "5 Tran Phu, Ba Dinh, Ha Noi"
    clinic.address = "5 Tran Phu, BaDinh, Hà Nội"
    assert clinics.full_address(clinic) == "5 Tran Phu, BaDinh, Hà Nội"
    clinic.address = ""
    assert clinics.full_address(clinic) == "Ba Dinh, Ha Noi"


def test_service_label_is_english_in_english_and_the_display_name_otherwise():
    vct = Service(code="VCT", name="internal", display_name="Tu van suc khoe")
    other = Service(code="SRH", name="internal", display_name="Cham soc sinh san")
    assert clinics.service_label(vct, "en") == "Health counselling"
    assert clinics.service_label(vct, "vi") == clinics.service_label(vct, "vi-ascii") == "Tu van suc khoe"
    assert clinics.service_label(other, "en") == "Cham soc sinh san"  # no label: the program's name
    assert clinics.service_label(vct, "xx") == "Tu van suc khoe"
    for language in languages():
        for code in ("VCT", "STI", "PREP", "MMT"):
            assert_discreet(clinics.service_label(Service(code=code, name="", display_name="x"), language))
