"""Configuration (`app.config`): a bad setting stops start-up with one line
naming it; the defaults follow the spec."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"QUIET_HOURS": "9pm-7am"}, "QUIET_HOURS"),
        ({"QUIET_HOURS": "21:00-21:00"}, "QUIET_HOURS"),
        ({"SMS_GATEWAY": "carrier-pigeon"}, "SMS_GATEWAY"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"SEND_RATE_PER_SECOND": "-1"}, "SEND_RATE_PER_SECOND"),
        ({"DEFAULT_LANGUAGE": "fr"}, "DEFAULT_LANGUAGE"),
        ({"APP_ENV": "production"}, "WEBHOOK_TOKEN"),
        ({"SMS_GATEWAY": "africastalking"}, "AT_API_KEY"),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(env, variable):
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None, **env)
    message = str(err.value)
    assert variable in message and "\n" not in message


def test_defaults_follow_the_spec():
    s = load_settings(_env_file=None)
    assert s.database_url == "sqlite:///./hen.db"
    assert s.sms_gateway == "console"
    assert s.timezone == "Asia/Ho_Chi_Minh"
    assert s.quiet_window is not None and s.quiet_window[0].hour == 21 and s.quiet_window[1].hour == 7
    assert s.send_rate_per_second == 10
    assert s.dispatch_in_process is True
    assert s.default_language == "vi-ascii"
    assert load_settings(_env_file=None, QUIET_HOURS="").quiet_window is None


def test_postgres_url_uses_psycopg3():
    s = load_settings(_env_file=None, DATABASE_URL="postgresql://postgres@127.0.0.1/test")
    assert s.database_url.startswith("postgresql+psycopg://")
