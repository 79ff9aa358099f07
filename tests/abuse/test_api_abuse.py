"""Every plugin endpoint under attack, in the real deployment (FAB auth manager): no token, expired,
forged and tampered tokens, a user of another DAG, a read-only user, cross-site cookie requests,
path traversal and odd characters in ids, malformed bodies, bad conf through Airflow's own trigger,
and a property-based fuzz driven by the plugin's OpenAPI spec.

Each refused request gets a clear 4xx JSON ``{"detail": ...}``, no 500, no data of a run the caller
may not see, and nothing changes: DagRuns and task instances of the abuse DAGs, the plugin's run
and maintenance tables, and its successful actions stay exactly as they were.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from urllib.parse import quote

import jwt
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults import tally
from tests.faults.fdb import FPair
from tests.faults.stack import JWT_SECRET
from warm_archive.contract import MAINTENANCE_SUFFIX

pytestmark = pytest.mark.timeout(600)
ABUSE_DAGS = ("f_abuse", "f_abuse_fail", "f_abuse_slow", "f_other")
WRITES = ["source-status", "delete-source", "terminate", "verify", "rollback", "resume", "maintenance"]
SUB_WRITES = ["rollback", "reexecute"]


@pytest.fixture(scope="module")
def world(stack, fengines):
    """A Completed run (f_abuse), an Exceptional one (f_abuse_fail: its source table is missing),
    and a run of f_other, the only DAG user "other" may touch."""
    pairs = [FPair("pg", "pg", n, fengines).reset(n=300) for n in ("ab", "ot", "abs")]
    fengines["pg"].drop("fsrc.ab_missing")
    runs = {d: stack.trigger(d) for d in ("f_abuse", "f_abuse_fail", "f_other")}
    states = {d: stack.wait_run(d, r, timeout=300) for d, r in runs.items()}
    assert states == {"f_abuse": "success", "f_abuse_fail": "failed", "f_other": "success"}, states
    return {"runs": runs, "pairs": pairs}


def snapshot(stack) -> dict:
    with stack.meta() as c:

        def q(sql, *p):
            return sorted(tuple(str(x) for x in r) for r in c.execute(sql, p).fetchall())

        return {
            "dag_runs": q("SELECT dag_id, run_id, state FROM dag_run WHERE dag_id = ANY(%s)", list(ABUSE_DAGS)),
            "tis": q(
                "SELECT dag_id, run_id, task_id, state, try_number FROM task_instance WHERE dag_id = ANY(%s)",
                list(ABUSE_DAGS),
            ),
            "maintenance_runs": c.execute(
                "SELECT COUNT(*) FROM dag_run WHERE dag_id LIKE %s", (f"%{MAINTENANCE_SUFFIX}",)
            ).fetchone()[0],
            "plugin_runs": q(
                "SELECT dag_id, run_id, source_override, rollback_maintenance_run_id, reexecuted_as "
                "FROM warm_monitor_run WHERE dag_id = ANY(%s)",
                list(ABUSE_DAGS),
            ),
            "plugin_maintenance": q(
                "SELECT maintenance_run_id FROM warm_monitor_maintenance WHERE dag_id = ANY(%s)", list(ABUSE_DAGS)
            ),
            "ok_actions": c.execute("SELECT COUNT(*) FROM warm_monitor_action WHERE outcome = 'ok'").fetchone()[0],
        }


@pytest.fixture
def unchanged(stack, world):
    before = snapshot(stack)
    yield
    assert snapshot(stack) == before
    for p in world["pairs"]:
        assert p.src_rows() == p.before_src


def routes(world) -> list[tuple[str, str]]:
    """(method, path) of every plugin API route, on the completed or failed run as fits."""
    ok, bad = world["runs"]["f_abuse"], world["runs"]["f_abuse_fail"]
    out = [("GET", "/warm/api/v1/tasks"), ("GET", "/warm/api/v1/actions"), ("GET", f"/warm/api/v1/tasks/f_abuse/{ok}")]
    out += [("POST", f"/warm/api/v1/tasks/f_abuse/{ok}/{w}") for w in WRITES]
    out += [("POST", f"/warm/api/v1/tasks/f_abuse_fail/{bad}/subtasks/orders/{w}") for w in SUB_WRITES]
    return out


def _detail(r) -> str:
    assert r.headers.get("content-type", "").startswith("application/json"), (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"detail"} and body["detail"], body
    return json.dumps(body)


def test_openapi_routes_are_all_covered(stack, world):
    """The fuzz and the auth matrix below cover every route the plugin's OpenAPI spec declares."""
    spec = stack.get("/warm/openapi.json").json()
    declared = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    covered = (
        {("GET", "/api/v1/tasks"), ("GET", "/api/v1/actions"), ("GET", "/api/v1/tasks/{dag_id}/{run_id}")}
        | {("POST", f"/api/v1/tasks/{{dag_id}}/{{run_id}}/{w}") for w in WRITES}
        | {("POST", f"/api/v1/tasks/{{dag_id}}/{{run_id}}/subtasks/{{task_id}}/{w}") for w in SUB_WRITES}
    )
    assert declared == covered, declared ^ covered


def _tokens(stack) -> dict[str, str]:
    real = stack.token("admin")
    claims = jwt.decode(real, options={"verify_signature": False})
    now = int(time.time())
    expired = jwt.encode(
        {**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, JWT_SECRET, algorithm="HS512"
    )
    forged = jwt.encode({**claims, "exp": now + 3600}, "not-the-secret", algorithm="HS512")
    head, body, sig = real.split(".")
    other_claims = jwt.decode(stack.token("viewer"), options={"verify_signature": False})
    tampered_body = base64.urlsafe_b64encode(json.dumps({**other_claims, "sub": claims["sub"]}).encode()).rstrip(b"=")
    none_alg = jwt.encode({**claims}, None, algorithm="none") if hasattr(jwt, "encode") else "x.y."
    return {
        "expired": expired,
        "forged": forged,
        "tampered": f"{head}.{tampered_body.decode()}.{sig}",
        "alg_none": none_alg,
        "garbage": "abc.def.ghi",
        "empty": "",
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_no_or_bad_token_is_refused_everywhere(stack, world, unchanged):
    toks = _tokens(stack)
    for method, path in routes(world):
        variants = (
            [({}, "none")]
            + [({"Authorization": f"Bearer {t}"}, name) for name, t in toks.items()]
            + [({"Cookie": f"_token={toks['forged']}", "Sec-Fetch-Site": "same-origin"}, "forged cookie")]
        )
        for headers, name in variants:
            tally.bad_inputs()
            r = requests.request(
                method, stack.base + path, headers=headers, json={} if method == "POST" else None, timeout=30
            )
            # no credentials: 401; credentials Airflow rejects ("Invalid JWT token"): 401 or 403
            assert r.status_code == 401 if name == "none" else r.status_code in (401, 403), (
                method,
                path,
                name,
                r.status_code,
                r.text[:200],
            )
            _detail(r)


def test_user_of_another_dag_gets_403_and_sees_nothing(stack, world, unchanged):
    ok = world["runs"]["f_abuse"]
    for method, path in routes(world)[2:]:
        tally.bad_inputs()
        r = requests.request(
            method,
            stack.base + path,
            headers=stack.headers("other"),
            json={"status": "processed"} if method == "POST" else None,
            timeout=30,
        )
        assert r.status_code == 403, (method, path, r.status_code, r.text[:200])
        assert ok not in _detail(r)
    lst = stack.get("/warm/api/v1/tasks", "other", params={"tab": "completed"}).json()
    assert {t["dag_id"] for t in lst["tasks"]} == {"f_other"}, lst
    acts = stack.get("/warm/api/v1/actions", "other").json()["actions"]
    assert all(a["dag_id"] == "f_other" for a in acts)
    for q in ({"dag_id": "f_abuse"}, {"q": "f_abuse"}, {"run_id": ok}):
        tally.bad_inputs()
        assert stack.get("/warm/api/v1/tasks", "other", params={"tab": "completed", **q}).json()["total"] == 0
    # the action log's search cannot reach another DAG's actions either
    for q in ({"dag_id": "f_abuse"}, {"run_id": ok}, {"action": "source_status", "dag_id": "f_abuse"}):
        tally.bad_inputs()
        page = stack.get("/warm/api/v1/actions", "other", params=q).json()
        assert page["total"] == 0 and page["actions"] == [], (q, page)


def test_read_only_user_reads_but_every_write_is_403(stack, world, unchanged):
    ok = world["runs"]["f_abuse"]
    assert stack.get(f"/warm/api/v1/tasks/f_abuse/{ok}", "viewer").status_code == 200
    for _method, path in routes(world)[3:]:
        tally.bad_inputs()
        r = stack.post(path, "viewer", json={"status": "processed"})
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
        _detail(r)


def test_cross_site_cookie_writes_are_refused(stack, world, unchanged):
    ok = world["runs"]["f_abuse"]
    cookie = {"Cookie": f"_token={stack.token('admin')}"}
    path = f"/warm/api/v1/tasks/f_abuse/{ok}/source-status"
    body = json.dumps({"status": "processed"})
    attacks = [
        ({"Content-Type": "application/json"}, "no fetch metadata, no origin"),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, "cross-site"),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, "sibling site"),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "none"}, "typed URL"),
        ({"Content-Type": "application/json", "Origin": "http://evil.example"}, "foreign origin"),
        ({"Content-Type": "application/json", "Origin": "null"}, "null origin"),
        ({"Content-Type": "application/json", "Origin": f"{stack.base}.evil.example"}, "origin prefix"),
        ({"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}, "form post"),
        ({"Content-Type": "text/plain", "Origin": stack.base}, "text/plain post"),
        (
            {
                "Content-Type": "multipart/form-data; boundary=x",
                "Sec-Fetch-Site": "cross-site",
                "X-Requested-With": "XMLHttpRequest",
            },
            "cross-site with header",
        ),
        # a Bearer header without a token authenticates nothing (the cookie does): no exemption
        (
            {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer "},
            "blank bearer",
        ),
        (
            {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer"},
            "bare bearer",
        ),
        (
            {"Content-Type": "application/json", "Origin": "http://evil.example", "Authorization": "bearer \t"},
            "tab bearer",
        ),
    ]
    for headers, name in attacks:
        for p in (
            path,
            path.replace("source-status", "delete-source"),
            f"/warm/api/v1/tasks/f_abuse_fail/{world['runs']['f_abuse_fail']}/rollback",
            f"/warm/api/v1/tasks/f_abuse_fail/{world['runs']['f_abuse_fail']}/resume",
        ):
            tally.attack("api") if "bearer" in name else tally.bad_inputs()
            r = requests.post(stack.base + p, headers={**cookie, **headers}, data=body, timeout=30)
            assert r.status_code == 403, (name, p, r.status_code, r.text[:200])
            assert "cross-site" in _detail(r)
    # the page itself passes the guard: same-origin JSON reaches the state check (terminate a Completed run: 409)
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": stack.base}):
        r = requests.post(
            f"{stack.base}/warm/api/v1/tasks/f_abuse/{ok}/terminate",
            headers={**cookie, **headers, "Content-Type": "application/json"},
            data="{}",
            timeout=30,
        )
        assert r.status_code == 409, r.text


def test_reexecute_needs_the_right_to_create_runs(stack, world, unchanged):
    """Re-execution creates a DAG run: edit rights on the run are not enough (as for Airflow's trigger)."""
    bad = world["runs"]["f_abuse_fail"]
    assert stack.get(f"/warm/api/v1/tasks/f_abuse_fail/{bad}", "editor").json()["can_edit"] is True
    tally.attack("api")
    r = stack.post(f"/warm/api/v1/tasks/f_abuse_fail/{bad}/subtasks/orders/reexecute", "editor", json={})
    assert r.status_code == 403, (r.status_code, r.text[:300])
    _detail(r)


def test_resume_needs_the_right_to_clear_task_instances(stack, world, unchanged):
    """Resume clears task instances: edit rights on the run are not enough (as for Airflow's Clear),
    and the page is told why its Resume button is disabled."""
    bad = world["runs"]["f_abuse_fail"]
    task = stack.get(f"/warm/api/v1/tasks/f_abuse_fail/{bad}", "editor").json()
    assert task["can_edit"] is True
    assert task["actions"]["resume"]["allowed"] is False
    assert "task instances" in task["actions"]["resume"]["reason"], task["actions"]
    listed = stack.get("/warm/api/v1/tasks", "editor", params={"tab": "exceptional", "dag_id": "f_abuse_fail"})
    assert listed.json()["tasks"] and not any(t["actions"]["resume"]["allowed"] for t in listed.json()["tasks"])
    tally.attack("api")
    r = stack.post(f"/warm/api/v1/tasks/f_abuse_fail/{bad}/resume", "editor", json={})
    assert r.status_code == 403, (r.status_code, r.text[:300])
    _detail(r)
    # an admin may: the same run is resumable for them (not resumed here: nothing may change)
    assert stack.warm_task("f_abuse_fail", bad)["actions"]["resume"] == {"allowed": True, "reason": None}


def raw(stack, method: str, path: str, headers: dict, body: str | None = None) -> tuple[int, str, str]:
    """One request with the path sent exactly as given (no dot-segment normalisation by a client)."""
    c = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers)
        resp = c.getresponse()
        return resp.status, resp.getheader("content-type", ""), resp.read().decode(errors="replace")
    finally:
        c.close()


ODD_IDS = [
    "..",
    "../..",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "run' OR '1'='1",
    'x"; DROP TABLE dag_run; --',
    "%00",
    "a%00b",
    "%C3%BC%E2%9C%93",
    "<script>alert(1)</script>",
    "%25",
    "with space",
    "..%5C..%5Cwindows",
    "manual__2099-01-01T00:00:00+00:00",
    "%F0%9F%92%A9",
    "*",
    "%",
    "_",
    "%ff%fe",
    "null",
    "0",
    "-1",
]


def test_odd_ids_and_path_traversal_are_404_never_500(stack, world, unchanged):
    ok = world["runs"]["f_abuse"]
    for odd in ODD_IDS:
        seg = odd if "%" in odd else quote(odd, safe="")
        for method, path in [
            ("GET", f"/warm/api/v1/tasks/f_abuse/{seg}"),
            ("GET", f"/warm/api/v1/tasks/{seg}/{quote(ok, safe='')}"),
            ("POST", f"/warm/api/v1/tasks/f_abuse/{seg}/terminate"),
            ("POST", f"/warm/api/v1/tasks/f_abuse/{seg}/rollback"),
            ("POST", f"/warm/api/v1/tasks/f_abuse/{seg}/resume"),
            ("POST", f"/warm/api/v1/tasks/f_abuse/{quote(ok, safe='')}/subtasks/{seg}/reexecute"),
            ("POST", f"/warm/api/v1/tasks/{seg}/{seg}/source-status"),
        ]:
            tally.bad_inputs()
            status, ctype, text = raw(
                stack,
                method,
                path,
                {**stack.headers("admin"), "Content-Type": "application/json"},
                '{"status": "processed"}' if method == "POST" else None,
            )
            assert status in (404, 403, 422, 405), (method, path[:120], status, text[:300])
            if status != 405:
                assert ctype.startswith("application/json") and set(json.loads(text)) == {"detail"}, text[:300]
    # the static files and the page do not serve files outside the plugin's folder
    for raw_path in [
        "/warm/static/../../../../etc/passwd",
        "/warm/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/warm/static/..%2f..%2f..%2fapp.py",
        "/warm/..%2f..%2fetc/passwd",
    ]:
        tally.bad_inputs()
        status, _, text = raw(stack, "GET", raw_path, {})
        assert status in (404, 400, 401, 403), (raw_path, status)
        assert "root:" not in text and "import" not in text


def test_malformed_bodies_and_queries_are_422(stack, world, unchanged):
    ok = world["runs"]["f_abuse"]
    path = f"/warm/api/v1/tasks/f_abuse/{ok}/source-status"
    for data in [
        '{"status": "deleted"}',
        '{"status": "processed", "extra": 1}',
        '{"status": ["processed"]}',
        '{"status": null}',
        "[]",
        "not json",
        '{"status": "processed"',
        "null",
        '"processed"',
    ]:
        tally.bad_inputs()
        r = stack.post(path, "admin", data=data, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (data, r.status_code, r.text[:200])
        _detail(r)
    for params in (
        {"tab": "all"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "x"},
        {"offset": -1},
        {"order_by": "id; DROP TABLE dag_run"},
        {"strategy": "shred"},
        {"state": "deleted"},
        {"start_after": "yesterday"},
        {"source_status": "' OR 1=1 --"},
        {"q": "x" * 501},
        {"dag_id": "d" * 251},
    ):
        tally.bad_inputs()
        r = stack.get("/warm/api/v1/tasks", "admin", params=params)
        assert r.status_code == 422, (params, r.status_code, r.text[:200])
        _detail(r)
    for params in (
        {"q": "' OR 1=1 --"},
        {"q": "%"},
        {"q": "\\"},
        {"run_id": "' OR '1'='1"},
        {"table": "fsrc.ab; DROP TABLE x"},
        {"dag_id": "f_abuse' --"},
    ):
        tally.bad_inputs()
        r = stack.get("/warm/api/v1/tasks", "admin", params={"tab": "completed", **params})
        assert r.status_code == 200 and r.json()["total"] == 0, (params, r.text[:200])
    for params in (
        {"outcome": "maybe"},
        {"after": "yesterday"},
        {"before": "2026-13-45T00:00:00"},
        {"after": "2026-01-02T00:00:00Z", "before": "2026-01-01T00:00:00Z"},
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"user": "u" * 251},
        {"action": "a" * 51},
    ):
        tally.bad_inputs()
        r = stack.get("/warm/api/v1/actions", "admin", params=params)
        assert r.status_code == 422, (params, r.status_code, r.text[:200])
        _detail(r)
    # Search text is matched literally: a hit must contain the typed characters themselves
    # (earlier probes in this module record run ids with backslashes, so "\\" may find some).
    for params in ({"user": "' OR 1=1 --"}, {"action": "%"}, {"run_id": "\\"}, {"dag_id": "f_abuse' --"}):
        tally.bad_inputs()
        r = stack.get("/warm/api/v1/actions", "admin", params=params)
        assert r.status_code == 200, (params, r.status_code, r.text[:200])
        ((field, text),) = params.items()
        column = {"user": "user_name"}.get(field, field)
        hits = r.json()["actions"]
        assert all(text.lower() in (a[column] or "").lower() for a in hits), (params, hits[:3])
        everything = stack.get("/warm/api/v1/actions", "admin", params={"limit": 500}).json()["actions"]
        assert r.json()["total"] == sum(text.lower() in (a[column] or "").lower() for a in everything), params


def test_long_ids_in_writes_are_refused_cleanly(stack, world, unchanged):
    """A refused write is recorded in the plugin's action table; ids longer than its columns must
    still give the 404, not a 500 from the recording."""
    for dag, run in (("f_abuse", "r" * 300), ("d" * 300, "r"), ("f_abuse", "é" * 200), ("f_abuse", "y" * 4000)):
        tally.bad_inputs()
        assert stack.get(f"/warm/api/v1/tasks/{quote(dag)}/{quote(run)}", "admin").status_code == 404
        r = stack.post(f"/warm/api/v1/tasks/{quote(dag)}/{quote(run)}/terminate", "admin", json={})
        assert r.status_code in (404, 422), (len(dag), len(run), r.status_code, r.text[:300])


def test_bad_conf_through_airflow_is_refused_and_changes_nothing(stack, world):
    pair = world["pairs"][2]  # fsrc.abs of f_abuse_slow (allow_conf_where: true)
    # Of the wrong type: Airflow checks the conf against the DAG's params (the trigger form) and
    # answers 400 with the reason before any run exists.
    for conf, reason in (
        ({"batch_size": "1; DROP TABLE fsrc.abs"}, "Invalid input for param batch_size: '1; DROP TABLE fsrc.abs'"),
        ({"where": {"orders; DROP TABLE fsrc.abs": "1=1"}}, "Invalid input for param where: 'orders; DROP TABLE"),
        ({"strategy": "move'; --"}, 'Invalid input for param strategy: "move\'; --" is not one of'),
    ):
        tally.bad_inputs()
        before = stack.get("/api/v2/dags/f_abuse_slow/dagRuns", params={"limit": 100}).json()["total_entries"]
        r = stack.post("/api/v2/dags/f_abuse_slow/dagRuns", "admin", json={"logical_date": None, "conf": conf})
        assert r.status_code == 400 and reason in r.json()["detail"], (r.status_code, r.text[:500])
        after = stack.get("/api/v2/dags/f_abuse_slow/dagRuns", params={"limit": 100}).json()["total_entries"]
        assert after == before
    # Of the right type: the run starts, and its first task refuses the condition.
    confs = [
        {"where": {"orders": f"1=1; DROP TABLE {pair.src_table}"}},
        {"where": {"orders": "'; DELETE FROM fsrc.abs; --"}},
    ]
    runs = []
    for conf in confs:
        tally.bad_inputs()
        runs.append(stack.trigger("f_abuse_slow", conf))
        # one run at a time per warm DAG (max_active_runs 1): they queue behind each other
    for run in runs:
        assert stack.wait_run("f_abuse_slow", run, timeout=300) == "failed"
        ti = stack.get(f"/api/v2/dags/f_abuse_slow/dagRuns/{run}/taskInstances/orders").json()
        assert ti["state"] == "failed" and ti["try_number"] == 1, ti  # refused, not retried
    assert pair.src_rows() == pair.before_src
    assert not pair.warm.exists(pair.warm_table)


# -- property-based ---------------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
segment = st.one_of(
    text,
    st.sampled_from(
        ["..", ".", "f_abuse", "f_abuse_fail", "f_abuse__maintenance", "%00", "%2e%2e", "orders", "' OR 1=1 --"]
    ),
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(text, c, max_size=4),
    max_leaves=10,
)
query = st.dictionaries(
    st.sampled_from(
        [
            "tab",
            "dag_id",
            "run_id",
            "table",
            "strategy",
            "state",
            "source_status",
            "start_after",
            "start_before",
            "q",
            "limit",
            "offset",
            "order_by",
            "x",
            "__proto__",
        ]
    ),
    st.one_of(text, st.integers(-(10**12), 10**12).map(str)),
    max_size=6,
)


@st.composite
def request_of(draw):
    kind = draw(st.sampled_from(["list", "get", "write", "subwrite", "actions", "junk"]))
    a, b, c = (quote(draw(segment), safe="") or "x" for _ in range(3))
    path = {
        "list": "/warm/api/v1/tasks",
        "actions": "/warm/api/v1/actions",
        "get": f"/warm/api/v1/tasks/{a}/{b}",
        "write": f"/warm/api/v1/tasks/{a}/{b}/{draw(st.sampled_from(WRITES + ['x', '..']))}",
        "subwrite": f"/warm/api/v1/tasks/{a}/{b}/subtasks/{c}/{draw(st.sampled_from(SUB_WRITES))}",
        "junk": f"/warm/api/v1/{a}/{b}",
    }[kind]
    method = "POST" if kind in ("write", "subwrite") else draw(st.sampled_from(["GET", "GET", "POST", "DELETE"]))
    body = draw(
        st.one_of(
            json_value.map(lambda v: ("application/json", json.dumps(v))),
            st.binary(max_size=60).map(lambda b: ("application/octet-stream", b)),
            text.map(lambda t: ("text/plain", t)),
        )
    )
    user = draw(st.sampled_from(["admin", "viewer", "other", None]))
    return method, path, draw(query), body, user


@settings(
    max_examples=160,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=request_of())
def test_fuzz_finds_no_500_and_changes_nothing(stack, world, req):
    method, path, params, (ctype, body), user = req
    tally.bad_inputs()
    r = requests.request(
        method,
        stack.base + path,
        params=params,
        data=body,
        headers={**stack.headers(user), "Content-Type": ctype},
        timeout=30,
    )
    assert r.status_code < 500, (method, path, params, user, r.status_code, r.text[:300])
    if r.status_code >= 400:
        assert r.headers.get("content-type", "").startswith("application/json"), r.headers


def test_fuzz_left_everything_as_it_was(stack, world):
    """Runs after the fuzz (module order): random ids never match a real run, so nothing changed."""
    snap = snapshot(stack)
    assert snap["plugin_runs"] == [] or all(r[2] in ("None",) for r in snap["plugin_runs"]), snap
    for p in world["pairs"][:2]:
        assert p.src_rows() == p.before_src
