"""nextRunAt of get_pipeline: EventBridge-style six-field cron, zoneinfo, excluded dates.

Fixed cases (daylight saving in both directions, leap days, names, steps, what is refused), then
two property tests against an independent brute-force oracle that scans minutes. No timing here.
"""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

import orchestra_mcp as m

next_run_at, describe_schedule = m.next_run_at, m.describe_schedule
UTC = timezone.utc
PROPERTY_SETTINGS = {"max_examples": 200, "deadline": None, "derandomize": True, "database": None}


def u(*a):
    return datetime(*a, tzinfo=UTC)


def test_daily_utc():
    assert next_run_at("0 2 * * ? *", "UTC", u(2024, 5, 1, 1, 59)) == u(2024, 5, 1, 2, 0)
    # strictly after: exactly at fire time -> next day
    assert next_run_at("0 2 * * ? *", "UTC", u(2024, 5, 1, 2, 0)) == u(2024, 5, 2, 2, 0)
    assert next_run_at("0 2 * * ? *", "UTC", u(2024, 5, 1, 2, 0, 0, 1)) == u(2024, 5, 2, 2, 0)
    assert next_run_at("0 2 * * ? *", "UTC", u(2024, 12, 31, 3)) == u(2025, 1, 1, 2, 0)


def test_every_15_minutes():
    assert next_run_at("0/15 * * * ? *", "UTC", u(2024, 5, 1, 10, 7)) == u(2024, 5, 1, 10, 15)
    assert next_run_at("0/15 * * * ? *", "UTC", u(2024, 5, 1, 23, 45)) == u(2024, 5, 2, 0, 0)
    assert next_run_at("*/15 * * * ? *", "UTC", u(2024, 5, 1, 10, 15, 30)) == u(2024, 5, 1, 10, 30)
    assert next_run_at("5/20 * * * ? *", "UTC", u(2024, 5, 1, 10, 46)) == u(2024, 5, 1, 11, 5)
    assert next_run_at("10-40/15 * * * ? *", "UTC", u(2024, 5, 1, 10, 41)) == u(2024, 5, 1, 11, 10)


def test_weekdays_london_spring_dst():
    # UK clocks go forward Sun 2024-03-31: 09:00 GMT on Fri 29th, 09:00 BST (08:00Z) Mon 1 Apr.
    c, tz = "0 9 ? * MON-FRI *", "Europe/London"
    assert next_run_at(c, tz, u(2024, 3, 29, 0)) == u(2024, 3, 29, 9)
    assert next_run_at(c, tz, u(2024, 3, 29, 9)) == u(2024, 4, 1, 8)
    assert next_run_at("0 9 ? * 2-6 *", tz, u(2024, 3, 29, 9)) == u(2024, 4, 1, 8)


def test_weekdays_london_autumn_dst():
    # Clocks go back Sun 2024-10-27: Fri 25th 09:00 BST = 08:00Z, Mon 28th 09:00 GMT = 09:00Z.
    c, tz = "0 9 ? * MON-FRI *", "Europe/London"
    assert next_run_at(c, tz, u(2024, 10, 25, 0)) == u(2024, 10, 25, 8)
    assert next_run_at(c, tz, u(2024, 10, 25, 8)) == u(2024, 10, 28, 9)


def test_monthly():
    assert next_run_at("0 2 1 * ? *", "UTC", u(2024, 1, 15)) == u(2024, 2, 1, 2)
    assert next_run_at("0 2 1 * ? *", "UTC", u(2024, 12, 1, 2)) == u(2025, 1, 1, 2)
    assert next_run_at("0 0 31 * ? *", "UTC", u(2024, 4, 1)) == u(2024, 5, 31)
    assert next_run_at("0 0 29 FEB ? *", "UTC", u(2024, 3, 1)) == u(2028, 2, 29)
    assert next_run_at("0 0 29 2 ? *", "UTC", u(2096, 3, 1)) == u(2104, 2, 29)  # 2100 not leap


@pytest.mark.parametrize("expr", [
    "30 1 ? * 2#1 *", "0 0 L * ? *", "0 0 LW * ? *", "0 0 15W * ? *", "0 0 ? * 6L *",
    "0 0 ? * L *", "0 2 * * *", "0 2 * * ? * *", "", "   ", None, 5,
    "60 0 * * ? *", "0 24 * * ? *", "0 0 0 * ? *", "0 0 32 * ? *", "0 0 1 13 ? *",
    "0 0 1 0 ? *", "0 0 ? * 0 *", "0 0 ? * 8 *", "0 0 1 * ? 1969", "0 0 1 * ? 2200",
    "0 0 1 * 2 *", "0 0 1 * MON *", "? 0 * * ? *", "0 ? * * ? *", "0 0 * ? ? *", "0 0 * * ? ?",
    "*/0 * * * ? *", "5-1 * * * ? *", "0 0 ? * FRI-MON *", "0 0 1 FOO ? *", "0 0 1 * ? MON",
    "0 0 ? JAN MON#2 *", "0 0 1 * ? *,", "0 0 1 * ? */", "0 0 1 * ? -1", "0 0 1,,2 * ? *",
    "1.5 0 * * ? *", "0 0 1 * ? 2030-2025", "0 0 30 2 ? *", "0 0 31 4,6,9,11 ? *",
])
def test_unsupported_or_invalid_is_none(expr):
    assert next_run_at(expr, "UTC", u(2024, 1, 1)) is None


def test_names_case_and_lists():
    assert next_run_at("0 0 1 jan,Jul ? *", "UTC", u(2024, 2, 1)) == u(2024, 7, 1)
    assert next_run_at("0 0 ? * sun *", "UTC", u(2024, 5, 1)) == u(2024, 5, 5)  # Sunday
    assert next_run_at("0 0 ? * 1 *", "UTC", u(2024, 5, 1)) == u(2024, 5, 5)  # 1 = SUN
    assert next_run_at("0 0 ? * 7 *", "UTC", u(2024, 5, 1)) == u(2024, 5, 4)  # 7 = SAT
    assert next_run_at("0 0 * * * *", "UTC", u(2024, 5, 1)) == u(2024, 5, 2)  # lenient * *
    assert next_run_at("0 0 1 * * *", "UTC", u(2024, 5, 1)) == u(2024, 6, 1)
    assert next_run_at("0 0 ? * ? *", "UTC", u(2024, 5, 1)) == u(2024, 5, 2)


def test_year_field():
    assert next_run_at("0 12 1 1 ? 2030", "UTC", u(2024, 6, 1)) == u(2030, 1, 1, 12)
    assert next_run_at("0 12 1 1 ? 2030", "UTC", u(2030, 1, 1, 12)) is None
    assert next_run_at("0 12 1 1 ? 2020", "UTC", u(2024, 6, 1)) is None
    assert next_run_at("0 12 1 1 ? 2020-2023", "UTC", u(2024, 6, 1)) is None
    assert next_run_at("0 12 1 1 ? 2020-2030/5", "UTC", u(2024, 6, 1)) == u(2025, 1, 1, 12)
    assert next_run_at("0 12 1 1 ? 2045", "UTC", u(2024, 6, 1)) == u(2045, 1, 1, 12)


def test_excluded_dates():
    ex = {date(2024, 5, 2), date(2024, 5, 3)}
    assert next_run_at("0 2 * * ? *", "UTC", u(2024, 5, 1, 3), ex) == u(2024, 5, 4, 2)
    # exclusion is by *local* date: 2024-05-02 00:30 in Tokyo is 05-01 15:30Z
    assert next_run_at("30 0 * * ? *", "Asia/Tokyo", u(2024, 5, 1, 12), [date(2024, 5, 2)]) == u(2024, 5, 2, 15, 30)


def test_new_york_spring_forward_skips_nonexistent_time():
    # 2024-03-10 02:30 does not exist in New York: skipped that day (EventBridge Scheduler).
    tz = "America/New_York"
    assert next_run_at("30 2 * * ? *", tz, u(2024, 3, 9, 12)) == u(2024, 3, 11, 6, 30)
    assert next_run_at("30 2 * * ? *", tz, u(2024, 3, 8, 12)) == u(2024, 3, 9, 7, 30)
    # hourly: the 02:xx hour is skipped, 01:59 EST -> 03:00 EDT
    assert next_run_at("0 * * * ? *", tz, u(2024, 3, 10, 6, 30)) == u(2024, 3, 10, 7, 0)
    assert next_run_at("0 * * * ? *", tz, u(2024, 3, 10, 6)) == u(2024, 3, 10, 7, 0)


def test_new_york_fall_back_runs_once():
    tz = "America/New_York"  # 2024-11-03 01:30 occurs at 05:30Z (EDT) and 06:30Z (EST)
    assert next_run_at("30 1 * * ? *", tz, u(2024, 11, 3, 0)) == u(2024, 11, 3, 5, 30)
    assert next_run_at("30 1 * * ? *", tz, u(2024, 11, 3, 5, 30)) == u(2024, 11, 4, 6, 30)
    # every 30 min: 01:00 EDT, 01:30 EDT, then 02:00 EST (no second 01:00/01:30)
    assert next_run_at("0/30 * * * ? *", tz, u(2024, 11, 3, 5, 30)) == u(2024, 11, 3, 7, 0)


def test_other_timezones():
    assert next_run_at("0 0 * * ? *", "Asia/Kolkata", u(2024, 1, 1)) == u(2024, 1, 1, 18, 30)
    assert next_run_at("0 2 * * ? *", "Nowhere/Land", u(2024, 1, 1)) is None
    assert next_run_at("0 2 * * ? *", "", u(2024, 1, 1)) is None
    assert next_run_at("0 2 * * ? *", "../etc/passwd", u(2024, 1, 1)) is None
    assert next_run_at("0 2 * * ? *", None, u(2024, 1, 1)) is None
    # non-UTC `after` is accepted and the result is UTC
    res = next_run_at("0 2 * * ? *", "UTC", datetime(2024, 1, 1, 2, 59, tzinfo=ZoneInfo("Europe/Paris")))
    assert res == u(2024, 1, 1, 2) and res.tzinfo is UTC


def test_describe_schedule():
    now = u(2024, 5, 1, 3)
    d = describe_schedule({"name": "Nightly", "cron": "0 2 * * ? *", "timezone": "UTC"}, now)
    assert d == {"name": "Nightly", "cron": "0 2 * * ? *", "timezone": "UTC", "nextRunAt": "2024-05-02T02:00:00+00:00"}
    d = describe_schedule({"cron": "0 2 * * ? *", "exclude": ["2024-05-02"]}, now)
    assert d["timezone"] == "UTC" and d["nextRunAt"] == "2024-05-03T02:00:00+00:00"
    assert d["exclude"] == ["2024-05-02"]
    d = describe_schedule({"cron": "0 2 * * ? *", "timezone": "Mars/Base"}, now)
    assert "nextRunAt" not in d and d["nextRunAtNote"] == "unknown timezone"
    d = describe_schedule({"cron": "0 2 * * ? *", "exclude": [{"cron": "0 0 25 12 ? *"}]}, now)
    assert "nextRunAt" not in d and "exclude" in d["nextRunAtNote"]
    for bad in ("2024-05-02", ["20240502"], ["2024-02-30"], [20240502], {"a": 1}):
        assert "nextRunAt" not in describe_schedule({"cron": "0 2 * * ? *", "exclude": bad}, now)
    d = describe_schedule({"name": "x\n" * 100, "cron": "0 0 L * ? *", "timezone": 3}, now)
    assert "nextRunAt" not in d and d["name"].startswith("x\nx") and len(d["name"]) < 120
    assert d["timezone"] == "3"
    assert "nextRunAt" not in describe_schedule({"cron": "30 1 ? * 2#1 *"}, now)
    assert "nextRunAt" not in describe_schedule("garbage", now)
    assert describe_schedule({}, now) == {"timezone": "UTC", "nextRunAtNote": "cron not supported here (L, W, #...) or no run in 10 years"}
    assert describe_schedule({"cron": "0 12 1 1 ? 2020"}, now)["nextRunAtNote"].startswith("cron not supported")


def test_a_paused_pipeline_gets_no_next_run():
    d = describe_schedule({"name": "Nightly", "cron": "0 2 * * ? *", "timezone": "UTC"}, u(2024, 5, 1), paused=True)
    assert "nextRunAt" not in d and d["nextRunAtNote"] == "the pipeline is paused"


@pytest.mark.parametrize("cron", ["1" * 5000, "0 " * 3000, "9" * 50 + " * * * ? *", "0 0 1-" + "9" * 40 + " * ? *"])
def test_huge_or_absurd_expressions_are_refused_without_work(cron):
    assert next_run_at(cron, "UTC", u(2024, 1, 1)) is None


# ---------- property test: independent brute-force oracle ----------

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "America/St_Johns", "Pacific/Chatham", "Europe/Berlin"]
DAYNAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@st.composite
def field(draw, lo, hi, names=None, full=None):
    """(text, expected value set) for one field, computed independently of cron.py.

    Values are drawn from lo..hi; `*` and `*/n` cover the field's full range `full`."""
    def tok(v):
        return names[v - lo] if names and draw(st.booleans()) else str(v)
    kind = draw(st.sampled_from(["star", "step", "startstep", "range", "rangestep", "list", "one"]))
    a = draw(st.integers(lo, hi))
    b = draw(st.integers(a, hi))
    n = draw(st.integers(1, max(1, hi - lo)))
    flo, fhi = full or (lo, hi)
    if kind == "star":
        return "*", set(range(flo, fhi + 1))
    if kind == "step":
        return f"*/{n}", {v for v in range(flo, fhi + 1) if (v - flo) % n == 0}
    if kind == "startstep":
        return f"{tok(a)}/{n}", {v for v in range(a, fhi + 1) if (v - a) % n == 0}  # a/n runs to field max
    if kind == "range":
        return f"{tok(a)}-{tok(b)}", set(range(a, b + 1))
    if kind == "rangestep":
        return f"{tok(a)}-{tok(b)}/{n}", {v for v in range(a, b + 1) if (v - a) % n == 0}
    if kind == "list":
        vals = draw(st.lists(st.integers(lo, hi), min_size=1, max_size=4))
        return ",".join(tok(v) for v in vals), set(vals)
    return tok(a), {a}


@st.composite
def frequent_expr(draw):
    mins, mset = draw(field(0, 59))
    hrs, hset = draw(st.one_of(st.just(("*", set(range(24)))), field(0, 23)))
    dow, dowset = draw(st.one_of(st.just(("?", set(range(1, 8)))), field(1, 7, DAYNAMES)))
    return f"{mins} {hrs} {'?' if dow != '?' else '*'} * {dow} *", mset, hset, dowset


def ebdow(d):
    return d.isoweekday() % 7 + 1


instants = st.datetimes(datetime(2023, 1, 1), datetime(2026, 12, 31)).map(lambda d: d.replace(tzinfo=UTC))
# bias towards DST transitions, where bugs live
dst_instants = st.sampled_from([u(2024, 3, 10, 6), u(2024, 11, 3, 5), u(2024, 3, 31, 0), u(2024, 10, 27, 0),
                                u(2024, 4, 6, 14), u(2024, 10, 5, 15), u(2024, 4, 6, 13)]).flatmap(
    lambda b: st.integers(-180, 180).map(lambda m: b + timedelta(minutes=m)))


@settings(**PROPERTY_SETTINGS)
@given(frequent_expr(), st.sampled_from(ZONES), st.one_of(instants, dst_instants),
       st.lists(st.dates(date(2023, 1, 1), date(2027, 1, 1)), max_size=3))
def test_property_matches_bruteforce(expr, zone, after, excluded):
    text, mset, hset, dowset = expr
    tz = ZoneInfo(zone)
    res = next_run_at(text, zone, after, excluded)
    horizon = after + timedelta(days=9)  # every generated expression fires at least weekly
    # oracle: scan UTC minutes; a local time counts once (fold=0), gaps never appear from UTC
    m = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    expected = None
    while m <= horizon:
        loc = m.astimezone(tz)
        if (loc.fold == 0 and loc.minute in mset and loc.hour in hset and ebdow(loc) in dowset
                and loc.date() not in excluded):
            expected = m
            break
        m += timedelta(minutes=1)
    if expected is None:
        assert res is None or res > horizon
    else:
        assert res == expected
        assert res.tzinfo is not None and res.utcoffset() == timedelta(0)


@st.composite
def any_expr(draw):
    parts = [draw(field(0, 59)), draw(field(0, 23))]
    dom = draw(st.one_of(st.just(("?", set(range(1, 32)))), field(1, 31)))
    month = draw(field(1, 12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]))
    if dom[0] == "?":
        dow = draw(field(1, 7, DAYNAMES))
    else:
        dow = ("?", set(range(1, 8)))
    year = draw(st.one_of(st.just(("*", set(range(1970, 2200)))), field(2020, 2035, full=(1970, 2199))))
    parts += [dom, month, dow, year]
    return " ".join(p[0] for p in parts), [p[1] for p in parts]


@settings(**PROPERTY_SETTINGS)
@given(any_expr(), st.sampled_from(ZONES), st.one_of(instants, dst_instants))
def test_property_result_matches_expression(expr, zone, after):
    text, (mset, hset, domset, monset, dowset, yset) = expr
    res = next_run_at(text, zone, after)

    def matches(m):
        lm = m.astimezone(ZoneInfo(zone))
        return (lm.fold == 0 and lm.minute in mset and lm.hour in hset and lm.day in domset
                and lm.month in monset and ebdow(lm) in dowset and lm.year in yset)

    if res is None:  # then nothing fires in (at least) the next 48 hours either
        m = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(48 * 60):
            assert not matches(m), m
            m += timedelta(minutes=1)
        return
    loc = res.astimezone(ZoneInfo(zone))
    assert res > after and loc.fold == 0
    assert (loc.minute in mset and loc.hour in hset and loc.day in domset and loc.month in monset
            and ebdow(loc) in dowset and loc.year in yset)
    # nothing matches between `after` and the result on the result's local day or the previous one
    start = max(after, res - timedelta(hours=48)).replace(second=0, microsecond=0)
    m = start + timedelta(minutes=1) if start <= after else start
    while m < res:
        assert not matches(m), m
        m += timedelta(minutes=1)
