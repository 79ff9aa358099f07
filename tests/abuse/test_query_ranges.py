"""Query parameters out of range, in the real deployment (FAB): every parameter of the plugin's
GET endpoints, given a value the API cannot use (a date that has no UTC equivalent, a page number
or size past its bounds, a number too long to parse, a string longer than its column, a value not
in its enum), is refused with a 422 whose ``detail`` names the parameter and says why; never a 500.

Two properties drive Hypothesis against the running api-server: dates alone, with an exact oracle
(a date Python can convert to UTC is answered, one it cannot is a 422 naming the parameter), and
every query parameter of both list endpoints at once (no 500; a 422 names a parameter that was sent).
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.faults import tally
from warm_archive.contract import RunState, SourceStatus, Strategy, Tab

pytestmark = pytest.mark.timeout(600)

TASKS = "/warm/api/v1/tasks"
ACTIONS = "/warm/api/v1/actions"
HEAD_LIMIT = 16 * 1024  # uvicorn's h11_max_incomplete_event_size: the most a request line and headers may take
DATE_PARAMS = {TASKS: ("start_after", "start_before"), ACTIONS: ("after", "before")}


def _refusal(r, params: dict) -> str:
    """The 422's reason: one JSON ``detail`` string, each part naming a parameter that was sent."""
    assert r.status_code == 422, (params, r.status_code, r.text[:300])
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    detail = body["detail"]
    assert 0 < len(detail) < 2000, detail
    for part in detail.split("; "):
        name, sep, why = part.partition(": ")
        assert sep and name in params and why.strip(), (params, detail)
    for leak in ("Traceback", "Error:", "OverflowError", "sqlalchemy", "psycopg"):
        assert leak not in detail, detail
    return detail


def _utc_or_none(value: str) -> dt.datetime | None:
    """What the API should compare with: the value in UTC (a naive one is UTC), or None when it has none."""
    d = dt.datetime.fromisoformat(value)
    if d.tzinfo is None:
        return d.replace(tzinfo=dt.UTC)
    try:
        return d.astimezone(dt.UTC)
    except OverflowError:
        return None


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        # issue 22 item 3: the two dates of the report, on both list endpoints
        (TASKS, "start_after", "9999-12-31T23:59:59-23:59"),
        (TASKS, "start_before", "0001-01-01T00:00:00+23:59"),
        (ACTIONS, "after", "9999-12-31T23:59:59-23:59"),
        (ACTIONS, "before", "0001-01-01T00:00:00+23:59"),
        (TASKS, "start_after", "9999-12-31T12:00:00-12:00"),
        (ACTIONS, "before", "0001-01-01T00:00:00.000001+00:01"),
    ],
)
def test_dates_without_a_utc_equivalent_are_422(stack, path, param, value):
    tally.attack("api")
    params = {"tab": "completed", param: value} if path == TASKS else {param: value}
    r = stack.get(path, "admin", params=params)
    detail = _refusal(r, params)
    assert detail.startswith(f"{param}: ") and "UTC" in detail, detail


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        (TASKS, "start_after", "9999-12-31T23:59:59.999999+00:00"),
        (TASKS, "start_before", "0001-01-01T00:00:00Z"),
        (TASKS, "start_after", "9999-12-31T00:00:00-23:59"),
        (TASKS, "start_before", "0001-01-01T23:59:00+23:59"),
        (ACTIONS, "after", "0001-01-01T00:00:00"),
        (ACTIONS, "before", "9999-12-31T23:59:59"),
    ],
)
def test_extreme_dates_that_have_a_utc_equivalent_are_answered(stack, path, param, value):
    params = {"tab": "completed", param: value} if path == TASKS else {param: value}
    r = stack.get(path, "admin", params=params)
    assert r.status_code == 200, (params, r.status_code, r.text[:300])
    assert r.json()["total"] >= 0


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (TASKS, {"limit": str(10**30)}),
        (TASKS, {"offset": str(10**30)}),
        (TASKS, {"offset": "9" * 5000}),
        (TASKS, {"offset": "10000001"}),
        (TASKS, {"limit": "-9" + "9" * 40}),
        (ACTIONS, {"limit": str(2**63)}),
        (ACTIONS, {"offset": str(2**64)}),
        (ACTIONS, {"offset": "9" * 5000}),
        (TASKS, {"start_after": "9" * 5000}),
        (TASKS, {"start_after": str(10**30)}),
        (ACTIONS, {"after": "-" + "9" * 40}),
        (TASKS, {"table": "t" * 501}),
        (TASKS, {"run_id": "r" * 251}),
        (ACTIONS, {"run_id": "r" * 251}),
        (ACTIONS, {"dag_id": "d" * 251}),
        (TASKS, {"order_by": "x" * 10_000}),
        (ACTIONS, {"outcome": "o" * 10_000}),
    ],
)
def test_huge_numbers_and_overlong_values_are_422(stack, path, params):
    tally.bad_inputs()
    _refusal(stack.get(path, "admin", params=params), params)


# -- property-based ---------------------------------------------------------------------------------


def _offset(minutes: int) -> str:
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


MAX_OFFSET = 24 * 60 - 1  # the widest offset ISO 8601 (and pydantic) accept: 23:59
offsets = st.one_of(st.sampled_from(["", "Z"]), st.integers(-MAX_OFFSET, MAX_OFFSET).map(_offset))
# A UTC conversion overflows only on the first day of year 1 with an offset east of UTC, or on the
# last day of year 9999 with one west of it: two thirds of the dates are drawn there (about half of
# those have no UTC time), the rest anywhere with any offset.
first_day = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(1, 1, 1, 23, 59, 59, 999999))
last_day = st.datetimes(min_value=dt.datetime(9999, 12, 31), max_value=dt.datetime(9999, 12, 31, 23, 59, 59, 999999))
iso_dates = st.one_of(
    st.builds(lambda d, m: d.isoformat() + _offset(m), first_day, st.integers(0, MAX_OFFSET)),
    st.builds(lambda d, m: d.isoformat() + _offset(-m), last_day, st.integers(0, MAX_OFFSET)),
    st.builds(lambda d, off: d.isoformat() + off, st.datetimes(), offsets),
)

FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(FUZZ, max_examples=120)
@given(path=st.sampled_from([TASKS, ACTIONS]), which=st.sampled_from([0, 1]), value=iso_dates)
@example(path=TASKS, which=0, value="9999-12-31T23:59:59-23:59")
@example(path=TASKS, which=1, value="0001-01-01T00:00:00+23:59")
def test_fuzz_dates_are_answered_exactly_when_they_have_a_utc_equivalent(stack, path, which, value):
    tally.bad_inputs()
    param = DATE_PARAMS[path][which]
    params = {param: value} | ({"tab": "completed"} if path == TASKS else {})
    r = stack.get(path, "admin", params=params)
    if _utc_or_none(value) is None:
        detail = _refusal(r, params)
        assert detail.startswith(f"{param}: ") and "UTC" in detail, detail
    else:
        assert r.status_code == 200, (params, r.status_code, r.text[:300])


def _sized_text(limit: int):
    """Text well under, at and just past ``limit`` characters (the API's bound for the parameter)."""
    char = st.characters(blacklist_categories=("Cs",))
    return st.one_of(
        st.text(char, max_size=20),
        st.builds(lambda c, n: c * n, char, st.sampled_from([limit - 1, limit, limit + 1, limit * 4])),
    )


numbers = st.one_of(
    st.integers(-5, 600),
    st.integers(-(10**40), 10**40),
    st.sampled_from([0, 1, 500, 501, 10_000_000, 10_000_001, 2**31, 2**63, 2**64]),
).map(str) | st.sampled_from(["", "1e3", "0x10", "1.5", "-0", " 7 ", "9" * 5000, "NaN", "∞"])
dates = st.one_of(
    iso_dates,
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", "now", "yesterday", "2026-13-45T00:00:00", "2026-01-01T00:00:00+24:00", "9" * 5000]),
    st.text(max_size=30),
)


def _choice(values) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from([str(v) for v in values]), _sized_text(40))


PARAMS = {
    TASKS: {
        "tab": _choice(Tab),
        "dag_id": _sized_text(250),
        "run_id": _sized_text(250),
        "table": _sized_text(500),
        "q": _sized_text(500),
        "strategy": _choice(Strategy),
        "state": _choice(RunState),
        "source_status": _choice(SourceStatus),
        "start_after": dates,
        "start_before": dates,
        "limit": numbers,
        "offset": numbers,
        "order_by": _choice(["start", "-start", "end", "-dag_id", "state"]),
    },
    ACTIONS: {
        "user": _sized_text(250),
        "action": _sized_text(50),
        "dag_id": _sized_text(250),
        "run_id": _sized_text(250),
        "outcome": _choice(["ok", "refused", "error"]),
        "after": dates,
        "before": dates,
        "limit": numbers,
        "offset": numbers,
    },
}


@st.composite
def list_request(draw):
    path = draw(st.sampled_from([TASKS, ACTIONS]))
    names = draw(st.lists(st.sampled_from(sorted(PARAMS[path])), unique=True, max_size=5))
    return path, {n: draw(PARAMS[path][n]) for n in names}


@settings(FUZZ, max_examples=200)
@given(req=list_request())
def test_fuzz_query_parameters_find_no_500(stack, req):
    path, params = req
    tally.bad_inputs()
    r = stack.get(path, "admin", params=params)
    if len(requests.Request("GET", stack.base + path, params=params).prepare().url or "") > HEAD_LIMIT - 2048:
        # near or past the size of a request head uvicorn (h11) reads: it may refuse it before any app
        assert r.status_code in (200, 422) or (r.status_code, r.text) == (400, "Invalid HTTP request received.")
        if r.status_code != 422:
            return
    assert r.status_code in (200, 422), (path, params, r.status_code, r.text[:300])
    if r.status_code == 422:
        _refusal(r, params)
    else:
        page = r.json()
        assert page["total"] >= 0 and page["limit"] == int(params.get("limit", 50)), page
