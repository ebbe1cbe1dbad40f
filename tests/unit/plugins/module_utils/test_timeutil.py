"""Durations as written in the inventory, and UTC ISO timestamps."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.apikeys.rotation.plugins.module_utils._timeutil import (
    DURATION_HELP, add_seconds, format_duration, from_iso, parse_duration, to_iso)


@pytest.mark.parametrize("text, seconds", [
    ("45s", 45),
    ("30m", 30 * 60),
    ("12h", 12 * 3600),
    ("90d", 90 * 86400),
    ("2w", 2 * 7 * 86400),
    ("1h30m", 5400),
    ("1d12h", 86400 + 12 * 3600),
    ("12H", 12 * 3600),        # case-insensitive
    (" 30m ", 1800),           # surrounding blanks ignored
])
def test_parse_duration_valid(text, seconds):
    assert parse_duration(text) == seconds


INVALID = ["5x", "0d", "", "10", "-1d", None, True, "1.5h", 10, "h", "1h 30m", "1d-1h", "0s0m", [1]]


@pytest.mark.parametrize("value", INVALID, ids=repr)
def test_parse_duration_invalid(value):
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    message = str(info.value)
    assert message.startswith(DURATION_HELP)
    # Beyond the fixed help text ("... such as 45s, 30m, 12h, 90d ..."), nothing of the value is echoed.
    if value not in (None, True, "") and not isinstance(value, list):
        assert str(value).strip() not in message[len(DURATION_HELP):]


@pytest.mark.parametrize("canary", ["SECRETCANARY42x", "98765432123456789", "00000000d", "7q7q7q7q"])
def test_parse_duration_never_echoes_a_distinctive_value(canary):
    with pytest.raises(ValueError) as info:
        parse_duration(canary)
    assert canary not in str(info.value)


def test_parse_duration_explains_missing_unit_and_zero():
    with pytest.raises(ValueError, match="unit is required"):
        parse_duration("10")
    with pytest.raises(ValueError, match="zero is not allowed"):
        parse_duration("0d")


@pytest.mark.parametrize("text", ["0s", "0d", "0h0m"])
def test_parse_duration_allow_zero(text):
    assert parse_duration(text, allow_zero=True) == 0


@pytest.mark.parametrize("value", ["", "10", "-1s", None])
def test_parse_duration_allow_zero_still_rejects_garbage(value):
    with pytest.raises(ValueError):
        parse_duration(value, allow_zero=True)


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"),
    (45, "45s"),
    (60, "1m"),
    (5400, "1h30m"),
    (86400, "1d"),
    (90 * 86400, "90d"),
    (86400 + 3600 + 60 + 1, "1d1h1m1s"),
    (59.6, "1m"),          # rounded
    (-3600, "-1h"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [1, 59, 61, 3599, 3601, 86399, 90061, 14 * 86400 + 7])
def test_format_then_parse_round_trip(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


def test_to_iso_is_utc_with_z():
    moment = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone.utc)
    assert to_iso(moment) == "2024-02-29T23:59:58Z"


def test_to_iso_converts_other_offsets_to_utc():
    moment = datetime(2024, 3, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_iso(moment) == "2024-02-29T23:00:00Z"


@pytest.mark.parametrize("text", ["2024-02-29T23:59:58Z", "1999-12-31T00:00:00Z", "2030-06-15T12:30:45Z"])
def test_from_iso_to_iso_round_trip(text):
    moment = from_iso(text)
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert to_iso(moment) == text


@pytest.mark.parametrize("text, expected", [
    ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2024-01-02T03:04:05+00:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2024-01-02T05:04:05+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),  # naive: taken as UTC
    (" 2024-01-02T03:04:05Z\n", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
])
def test_from_iso(text, expected):
    assert from_iso(text) == expected


def test_add_seconds():
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert to_iso(add_seconds(start, 90 * 86400)) == "2024-03-31T00:00:00Z"
