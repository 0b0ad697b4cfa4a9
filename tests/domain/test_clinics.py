"""Clinics, the domain (`app.domain.clinics`): finding the clinic a worker
or a desk names."""

from __future__ import annotations

import pytest

from app.domain import clinics, errors
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
