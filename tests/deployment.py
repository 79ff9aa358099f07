"""The one HTTP client the test suites use to talk to a running Airflow deployment (tests/api,
tests/ui, tests/celery, tests/faults and tests/abuse): a token per user, raw get/post/patch, and the
Airflow REST and Warm Monitor calls the tests make again and again.

Every helper quotes the DAG and run ids it puts in a path (a manual run id holds ``+`` and ``:``).
The raw methods (``get``, ``post``, ``patch``, ``request``, ``action``) return the response as it is,
for tests that assert on status codes; the others assert success and return the JSON body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote

import requests

WARM_API = "/warm/api/v1"


def q(s: str) -> str:
    """A path segment: ``s`` with every reserved character escaped."""
    return quote(s, safe="")


class Client:
    """HTTP client of one api-server at ``base``.

    ``passwords`` maps user -> password; a user it does not name logs in with its name as password.
    The mapping is read at each first login of a user, so a harness may update it after the start.
    ``tail(role)`` returns the last log lines of a process ("scheduler", "dag-processor"), for the
    message of a wait that timed out.
    """

    def __init__(
        self,
        base: str,
        passwords: Mapping[str, str] | None = None,
        *,
        name: str | None = None,
        timeout: float = 60,
        tail: Callable[[str], str] | None = None,
    ):
        self.base = base
        self.passwords = passwords if passwords is not None else {}
        self.name = name or base
        self.timeout = timeout
        self._tail = tail
        self._tokens: dict[str, str] = {}

    # -- logs and raw HTTP ------------------------------------------------------------------------

    def tail(self, role: str) -> str:
        return self._tail(role) if self._tail else ""

    def token(self, user: str = "admin") -> str:
        """The user's JWT from ``POST /auth/token`` (one login per user, kept)."""
        if user not in self._tokens:
            r = requests.post(
                f"{self.base}/auth/token",
                json={"username": user, "password": self.passwords.get(user, user)},
                timeout=30,
            )
            assert r.status_code in (200, 201), (self.name, user, r.status_code, r.text)
            self._tokens[user] = r.json()["access_token"]
        return self._tokens[user]

    def forget_tokens(self) -> None:
        self._tokens.clear()

    def headers(self, user: str | None) -> dict:
        return {"Authorization": f"Bearer {self.token(user)}"} if user else {}

    def request(self, method: str, path: str, user: str | None = "admin", **kw) -> requests.Response:
        """``path`` as ``user`` (None: without a token); ``headers`` given here win over the token's."""
        headers = {**self.headers(user), **kw.pop("headers", {})}
        return requests.request(
            method, self.base + path, headers=headers, timeout=kw.pop("timeout", self.timeout), **kw
        )

    def get(self, path: str, user: str | None = "admin", **kw) -> requests.Response:
        return self.request("GET", path, user, **kw)

    def post(self, path: str, user: str | None = "admin", **kw) -> requests.Response:
        return self.request("POST", path, user, **kw)

    def patch(self, path: str, user: str | None = "admin", **kw) -> requests.Response:
        return self.request("PATCH", path, user, **kw)

    def ok(self, method: str, path: str, user: str | None = "admin", **kw):
        """The JSON body of a request that must succeed (200 or 201)."""
        r = self.request(method.upper(), path, user, **kw)
        assert r.status_code in (200, 201), f"{self.name} {method.upper()} {path}: {r.status_code} {r.text}"
        return r.json()

    # -- waiting for the deployment ---------------------------------------------------------------

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.base}/api/v2/monitor/health", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, proc=None, timeout: float = 180) -> None:
        """Until the api-server answers its health check; ``proc`` (a tests.processes.Proc) must live."""
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{proc.name} died:\n{proc.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not healthy after {timeout}s:\n{proc.tail() if proc else ''}")
            time.sleep(1)

    def wait_dags(self, dag_ids, timeout: float = 240) -> None:
        """Until every DAG is parsed (``GET /api/v2/dags/{id}`` answers)."""
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while missing:
            missing = [d for d in missing if self.get(f"/api/v2/dags/{q(d)}").status_code != 200]
            if missing and time.monotonic() > deadline:
                errors = self.get("/api/v2/importErrors").text
                raise RuntimeError(
                    f"DAGs not parsed: {missing}\nimport errors: {errors}\n" + self.tail("dag-processor")
                )
            if missing:
                time.sleep(2)

    # -- Airflow REST -----------------------------------------------------------------------------

    def trigger(self, dag_id: str, conf: dict | None = None, user: str = "admin", run_id: str | None = None) -> str:
        """``POST /api/v2/dags/{dag_id}/dagRuns``: a manual run (now), its run id."""
        body = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        r = self.post(f"/api/v2/dags/{q(dag_id)}/dagRuns", user, json=body)
        assert r.status_code == 200, f"{self.name}: trigger {dag_id}: {r.status_code} {r.text}"
        return r.json()["dag_run_id"]

    def _run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{q(dag_id)}/dagRuns/{q(run_id)}"

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.ok("get", self._run_path(dag_id, run_id))

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.run(dag_id, run_id)["state"]

    def wait_run(self, dag_id: str, run_id: str, states=("success", "failed"), timeout: float = 240) -> str:
        """Until the run is in one of ``states``; that state."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in states:
                return state
            time.sleep(1)
        raise AssertionError(
            f"{dag_id}/{run_id} still {state} after {timeout}s (wanted {tuple(states)})\n" + self.tail("scheduler")
        )

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict:
        return self.ok("get", f"{self._run_path(dag_id, run_id)}/taskInstances/{q(task_id)}")

    def ti_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """The task instance's state; None while it does not exist (yet)."""
        r = self.get(f"{self._run_path(dag_id, run_id)}/taskInstances/{q(task_id)}")
        return r.json().get("state") if r.status_code == 200 else None

    def tis(self, dag_id: str, run_id: str) -> dict[str, dict]:
        """The run's task instances by task id."""
        body = self.ok("get", f"{self._run_path(dag_id, run_id)}/taskInstances")
        return {t["task_id"]: t for t in body["task_instances"]}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        body = self.ok("get", f"{self._run_path(dag_id, run_id)}/taskInstances/{q(task_id)}/tries")
        return sorted(body["task_instances"], key=lambda t: t["try_number"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str):
        return self.ok(
            "get",
            f"{self._run_path(dag_id, run_id)}/taskInstances/{q(task_id)}/xcomEntries/{q(key)}",
            params={"deserialize": "true"},
        )["value"]

    def return_value(self, dag_id: str, run_id: str, task_id: str):
        return self.xcom(dag_id, run_id, task_id, "return_value")

    # -- the Warm Monitor (plugin) API --------------------------------------------------------------

    def warm_task(self, dag_id: str, run_id: str, user: str = "admin") -> dict:
        """``GET /warm/api/v1/tasks/{dag_id}/{run_id}``."""
        return self.ok("get", f"{WARM_API}/tasks/{q(dag_id)}/{q(run_id)}", user)

    def warm_list(self, user: str = "admin", **params) -> dict:
        """``GET /warm/api/v1/tasks`` with ``params`` (tab, dag_id, limit, ...)."""
        return self.ok("get", f"{WARM_API}/tasks", user, params=params)

    def action(
        self, dag_id: str, run_id: str, what: str, user: str = "admin", task_id: str | None = None
    ) -> requests.Response:
        """``POST`` a monitor action (terminate, rollback, verify, reexecute, ...) on a run, or on one
        of its table jobs with ``task_id``: the response as it is."""
        path = f"{WARM_API}/tasks/{q(dag_id)}/{q(run_id)}" + (f"/subtasks/{q(task_id)}" if task_id else "")
        return self.post(f"{path}/{what}", user, json={})

    def warm_action(self, dag_id: str, run_id: str, what: str, user: str = "admin", task_id: str | None = None) -> dict:
        """``action`` that must succeed: its JSON body."""
        r = self.action(dag_id, run_id, what, user, task_id)
        assert r.status_code == 200, f"{self.name} {what} on {dag_id}/{run_id}: {r.status_code} {r.text}"
        return r.json()

    def wait_warm(self, dag_id: str, run_id: str, pred, timeout: float = 90, what: str = "condition") -> dict:
        """Until ``pred(warm_task(...))`` holds; that task."""
        deadline = time.monotonic() + timeout
        t = None
        while time.monotonic() < deadline:
            t = self.warm_task(dag_id, run_id)
            if pred(t):
                return t
            time.sleep(1)
        raise AssertionError(f"{dag_id}/{run_id}: {what} not reached in {timeout}s; last: {json.dumps(t)[:1500]}")
