"""Section 4 of orchestra_mcp.py: timestamps, time arguments and 7-day windows (pure functions)."""

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import orchestra_mcp as m  # noqa: E402

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
SECOND = timedelta(seconds=1)


# ---- parse_timestamp -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "2026-11-23T02:00:00Z",
    "2026-11-23T02:00:00z",
    "2026-11-23T02:00:00+00:00",
    "2026-11-23T02:00:00",
    "2026-11-23T04:00:00+02:00",
    "2026-11-22T21:00:00-05:00",
    " 2026-11-23T02:00:00Z ",
])
def test_a_timestamp_in_any_offset_form_is_the_same_utc_instant(text):
    value = m.parse_timestamp(text)
    assert value == datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)
    assert value.utcoffset() == timedelta(0)


def test_a_naive_timestamp_is_taken_as_utc():
    assert m.parse_timestamp("2026-11-23T02:00:00").tzinfo is not None
    assert m.parse_timestamp("2026-11-23T02:00:00") == m.parse_timestamp("2026-11-23T02:00:00+00:00")


@pytest.mark.parametrize("fraction, microseconds", [
    ("1", 100000), ("12", 120000), ("123", 123000), ("1234", 123400), ("12345", 123450),
    ("123456", 123456), ("1234567", 123456), ("12345678", 123456), ("123456789", 123456),
])
def test_one_to_nine_fractional_digits_parse_on_this_interpreter(fraction, microseconds):
    for suffix in ("Z", "+00:00", ""):
        value = m.parse_timestamp(f"2025-05-01T11:16:39.{fraction}{suffix}")
        assert value.microsecond == microseconds
        assert value.second == 39


def test_orchestras_own_timestamp_format_round_trips():
    text = "2025-05-01T11:16:39.421992+00:00"
    assert m.api_time(m.parse_timestamp(text)) == text


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-23T25:00:00Z", "11/23/2026"])
def test_a_string_that_is_not_a_timestamp_raises_value_error(text):
    with pytest.raises(ValueError):
        m.parse_timestamp(text)


# ---- parse_time ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, delta", [
    ("90m", timedelta(minutes=90)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)),
    ("30s", timedelta(seconds=30)), ("10min", timedelta(minutes=10)), ("2w", timedelta(weeks=2)),
    ("24H", timedelta(hours=24)), ("24 h", timedelta(hours=24)), (" 7d ", timedelta(days=7)),
])
def test_a_relative_time_is_now_minus_that_span(text, delta):
    assert m.parse_time(text, "time_from", now=NOW) == NOW - delta


def test_an_iso_time_argument_is_parsed_as_a_timestamp():
    assert m.parse_time("2026-11-23T02:00:00Z", "time_to", now=NOW) == datetime(2026, 11, 23, 2, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "   ", "yesterday", "24", "-5h", "5y", "h24", "1e3h", "x" * 65, None, 24, 1.5,
                                   ["24h"], "2026-11-23T02:00:00Zjunk", "9999999h"])
def test_a_bad_time_argument_raises_bad_argument_naming_it(value):
    with pytest.raises(m.BadArgument) as caught:
        m.parse_time(value, "time_from", now=NOW)
    assert "`time_from`" in str(caught.value)
    assert "90m" in str(caught.value)   # says what forms are accepted


@pytest.mark.parametrize("text", ["999999w", "999999d"])
def test_a_huge_relative_time_is_a_bad_argument_not_an_overflow(text):
    with pytest.raises(m.BadArgument):
        m.parse_time(text, "time_from", now=NOW)


# ---- resolve_window ------------------------------------------------------------------------------

def test_with_no_bounds_the_window_is_the_default_span_ending_now():
    assert m.resolve_window(None, None, 86400, now=NOW) == (NOW - timedelta(days=1), NOW)


def test_with_only_time_to_the_window_is_the_default_span_before_it():
    start, end = m.resolve_window(None, "2026-11-20T00:00:00Z", 3600, now=NOW)
    assert end == datetime(2026, 11, 20, tzinfo=UTC)
    assert start == end - timedelta(hours=1)


def test_with_only_time_from_the_window_ends_now():
    assert m.resolve_window("3d", None, 86400, now=NOW) == (NOW - timedelta(days=3), NOW)


def test_relative_bounds_are_both_relative_to_now():
    assert m.resolve_window("48h", "24h", 86400, now=NOW) == (NOW - timedelta(hours=48), NOW - timedelta(hours=24))


@pytest.mark.parametrize("time_from, time_to", [
    ("2026-11-23T02:00:00Z", "2026-11-23T02:00:00Z"),
    ("2026-11-23T03:00:00Z", "2026-11-23T02:00:00Z"),
    ("1h", "2h"),
])
def test_a_window_that_starts_at_or_after_its_end_is_refused(time_from, time_to):
    with pytest.raises(m.BadArgument, match="must be before"):
        m.resolve_window(time_from, time_to, 86400, now=NOW)


def test_a_window_in_the_future_is_refused():
    with pytest.raises(m.BadArgument, match="future"):
        m.resolve_window("2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", 86400, now=NOW)


def test_a_time_from_in_the_future_without_time_to_is_refused():
    with pytest.raises(m.BadArgument):
        m.resolve_window("2027-01-01T00:00:00Z", None, 86400, now=NOW)


def test_a_window_ending_in_the_future_but_starting_in_the_past_is_allowed():
    start, end = m.resolve_window("1h", "2027-01-01T00:00:00Z", 86400, now=NOW)
    assert start == NOW - timedelta(hours=1) and end == datetime(2027, 1, 1, tzinfo=UTC)


# ---- split_window --------------------------------------------------------------------------------

def check_cover(windows, start, end):
    """Consecutive, newest first, each at most 7 days minus 1 s, covering start..end exactly."""
    assert windows[0][1] == end
    assert windows[-1][0] == start
    for (_, older_end), (newer_start, _) in zip(windows[1:], windows[:-1], strict=False):
        assert older_end == newer_start
    for window_start, window_end in windows:
        assert timedelta(0) < window_end - window_start <= WEEK - SECOND
    assert sum((b - a for a, b in windows), timedelta(0)) == end - start


def test_seven_days_minus_a_second_is_one_window():
    windows = m.split_window(NOW - (WEEK - SECOND), NOW)
    assert windows == [(NOW - (WEEK - SECOND), NOW)]


def test_exactly_seven_days_is_two_windows():
    windows = m.split_window(NOW - WEEK, NOW)
    assert windows == [(NOW - (WEEK - SECOND), NOW), (NOW - WEEK, NOW - (WEEK - SECOND))]
    check_cover(windows, NOW - WEEK, NOW)


def test_thirty_days_is_five_consecutive_windows_newest_first():
    windows = m.split_window(NOW - timedelta(days=30), NOW)
    assert len(windows) == 5
    check_cover(windows, NOW - timedelta(days=30), NOW)
    assert windows == sorted(windows, reverse=True)


def test_an_empty_or_inverted_window_has_no_chunks():
    assert m.split_window(NOW, NOW) == []
    assert m.split_window(NOW, NOW - SECOND) == []


def test_the_maximum_window_constant_is_one_second_under_seven_days():
    assert m.MAX_WINDOW_S == 7 * 86400 - 1


@settings(max_examples=200, deadline=None)
@given(span=st.integers(min_value=1, max_value=120 * 86400 * 10**6))
def test_any_window_is_covered_exactly_by_chunks_under_seven_days(span):
    start = NOW - timedelta(microseconds=span)
    windows = m.split_window(start, NOW)
    check_cover(windows, start, NOW)
    assert len(windows) == -(-span // (m.MAX_WINDOW_S * 10**6))


# ---- api_time ------------------------------------------------------------------------------------

def test_api_time_writes_utc_with_an_explicit_offset():
    assert m.api_time(datetime(2026, 11, 23, 2, 0, tzinfo=UTC)) == "2026-11-23T02:00:00+00:00"
    assert m.api_time(datetime(2026, 11, 23, 2, 0, 0, 421992, tzinfo=UTC)) == "2026-11-23T02:00:00.421992+00:00"


def test_api_time_converts_other_offsets_to_utc():
    plus_two = timezone(timedelta(hours=2))
    assert m.api_time(datetime(2026, 11, 23, 4, 0, tzinfo=plus_two)) == "2026-11-23T02:00:00+00:00"
