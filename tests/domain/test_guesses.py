"""The wrong-code throttle (`app.domain.guesses`): a phone guessing codes
gets one notice, then silence, until the hour has passed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import clock
from app.config import load_settings
from app.domain import codes, errors, guesses
from tests.factories import NOW, issue_code, with_check


def test_too_many_wrong_codes_get_one_notice_then_silence(demo, settings, now):
    phone = "+84987654321"
    actor = "phone:" + phone
    for i in range(settings.wrong_code_limit_per_hour):
        guesses.check_wrong_code_throttle(demo, settings, phone)
        with pytest.raises((errors.UnknownCode, errors.MalformedCode)):
            codes.code_status(demo, with_check(f"{i:07d}") if i % 2 else "12", actor=actor)
    with pytest.raises(errors.Throttled) as first:
        guesses.check_wrong_code_throttle(demo, settings, phone)
    with pytest.raises(errors.Throttled) as second:
        guesses.check_wrong_code_throttle(demo, settings, phone)
    assert first.value.values["notify"] is True and second.value.values["notify"] is False
    guesses.check_wrong_code_throttle(demo, settings, "+84987654322")  # another phone is not affected
    clock.freeze(NOW + timedelta(hours=1, seconds=1))
    guesses.check_wrong_code_throttle(demo, settings, phone)  # the hour has passed


def test_the_limit_comes_from_settings_and_valid_look_ups_do_not_count(demo, database_url, now):
    settings = load_settings(
        _env_file=None, DATABASE_URL=database_url, WRONG_CODE_LIMIT_PER_HOUR=2, APP_ENV="test"
    )
    row = issue_code(demo, settings)
    actor = "phone:+84987654321"
    for _ in range(5):
        codes.code_status(demo, row.code, actor=actor)
    guesses.check_wrong_code_throttle(demo, settings, "+84987654321")
    for _ in range(2):
        with pytest.raises(errors.MalformedCode):
            codes.code_status(demo, "1", actor=actor)
    with pytest.raises(errors.Throttled):
        guesses.check_wrong_code_throttle(demo, settings, "+84987654321")
