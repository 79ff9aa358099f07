"""Warm Archive on Airflow's CeleryExecutor: two api-servers, two Celery workers (separate processes,
private Airflow homes), a PostgreSQL metadata DB, Redis as broker.

The tests run in file order and share one deployment; the kill -9 test comes last (it leaves one
worker). Figures measured here (jobs at once, rows/s across workers) go to
test-artifacts/celery-scale.json and into docs/scaling.md.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from tests.celery.cluster import HEARTBEAT_TIMEOUT_S, ROOT, WORKER_HOST, q
from tests.celery.conftest import BULK_DAGS, MY_POOL, PAR_DAGS, dump
from tests.dbs import checksum
from tests.processes import wait_for

pytestmark = pytest.mark.timeout(420)
FIGURES: dict = {}


def ts(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def max_overlap(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    best = cur = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def assert_exact(data, table: str, warm_kind: str, strategy: str) -> int:
    """The warm table holds exactly the matching rows, the source exactly the rest (by checksum)."""
    archived, kept = data.expected(table)
    warm = data.warm_rows(table, warm_kind)
    src = data.src_rows(table)
    assert len(warm) == len(archived), (table, len(warm), len(archived))
    assert checksum(warm) == checksum(archived), table
    assert checksum(src) == checksum(data.before[table] if strategy == "copy" else kept), table
    return len(archived)


def save_figures() -> None:
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "celery-scale.json").write_text(json.dumps(FIGURES, indent=2, default=str))


def trigger_all(cluster, dag_ids) -> dict[str, tuple[str, str]]:
    """Trigger each DAG, alternately through api-server a and b: dag_id -> (api it went through, run_id)."""
    runs = {}
    for i, dag_id in enumerate(dag_ids):
        k = "ab"[i % 2]
        runs[dag_id] = (k, cluster.api[k].trigger(dag_id))
    return runs


# -- the deployment -----------------------------------------------------------------------------------


def test_deployment_has_two_celery_workers_and_two_api_servers(cluster):
    assert [n.split("@")[0] for n in cluster.celery_ping()] == ["warm-a", "warm-b"]
    pids = {n: p.pid for n, p in cluster.procs.items()}
    assert len(set(pids.values())) == 6, pids
    a, b = cluster.api["a"], cluster.api["b"]
    assert a.base != b.base
    for api in (a, b):
        health = api.ok("get", "/api/v2/monitor/health")
        assert health["metadatabase"]["status"] == "healthy" and health["scheduler"]["status"] == "healthy"
        plugins = [p["name"] for p in api.ok("get", "/api/v2/plugins")["plugins"]]
        assert plugins.count("warm_monitor") == 1
        assert api.warm_list(tab="completed")["total"] == 0
    # a login on one api-server works on the other (same JWT secret, no session kept in a process)
    r = b.get("/warm/api/v1/tasks", headers={"Authorization": f"Bearer {a.token()}"}, params={"tab": "completed"})
    assert r.status_code == 200, r.text
    assert not a.ok("get", "/api/v2/importErrors")["import_errors"]


# -- several warm DAGs at once across both workers ----------------------------------------------------


def test_warm_dags_run_at_once_on_both_workers_with_progress_through_either_api_server(cluster, data):
    runs = trigger_all(cluster, PAR_DAGS)
    a, b = cluster.api["a"], cluster.api["b"]
    samples: dict[str, list[tuple[float, str, float]]] = {d: [] for d in runs}  # (time, api, progress)
    ours = {run_id: dag_id for dag_id, (_, run_id) in runs.items()}
    running_at_once = 0
    deadline = time.time() + 240
    active = set(ours)
    while active:
        assert time.time() < deadline, f"runs not done: {active}\n{cluster.tails()}"
        for api in (a, b):  # one request per api-server and round: the In progress tab
            page = api.warm_list(tab="in_progress", limit=100)["tasks"]
            seen = {t["run_id"]: t for t in page if t["run_id"] in ours}
            for run_id, t in seen.items():
                samples[ours[run_id]].append((time.time(), api.name, t["progress_pct"] or 0.0))
            running_at_once = max(
                running_at_once, sum(1 for t in seen.values() for s in t["subtasks"] if s["state"] == "running")
            )
            active = set(seen)
        time.sleep(1.0)

    intervals, hosts, rows = [], set(), 0
    for dag_id, (_, run_id) in runs.items():
        assert a.run(dag_id, run_id)["state"] == "success", dump(b.warm_task(dag_id, run_id))
        table, warm_kind, strategy = PAR_DAGS[dag_id]
        rows += assert_exact(data, table, warm_kind, strategy)
        ti = a.tis(dag_id, run_id)["orders"]
        hosts.add(ti["hostname"])
        intervals.append((ts(ti["start_date"]), ts(ti["end_date"])))
        # progress was visible mid-run through both api-servers, and never went backwards between them
        seen = samples[dag_id]
        mid = {api for _, api, p in seen if 0 < p < 100}
        assert mid == {"a", "b"}, (dag_id, seen)
        values = [p for _, _, p in seen]
        assert values == sorted(values), (dag_id, seen)
        # both api-servers tell the same story once it is over
        ta, tb = a.warm_task(dag_id, run_id), b.warm_task(dag_id, run_id)
        for key in ("state", "progress_pct", "rows_archived", "rows_planned", "source_status", "rollback_status"):
            assert ta[key] == tb[key], (key, ta[key], tb[key])
        assert ta["progress_pct"] == 100.0 and ta["rows_archived"] == len(data.expected(table)[0])
    assert hosts == set(WORKER_HOST.values()), hosts  # both workers took table jobs
    # a task log written on worker a's disk is read through api-server b (from worker a's log server)
    dag_id, run_id = next((d, r) for d, (_, r) in runs.items() if a.tis(d, r)["orders"]["hostname"] == WORKER_HOST["a"])
    log = b.ok(
        "get",
        f"/api/v2/dags/{dag_id}/dagRuns/{q(run_id)}/taskInstances/orders/logs/1",
        headers={"Accept": "application/json"},
    )
    assert "rows copied" in json.dumps(log["content"]), dump(log)
    at_once = max_overlap(intervals)
    assert at_once >= 3, intervals  # (of the 2 x CONCURRENCY slots; 4 when the machine is not overloaded)
    assert running_at_once >= 2, running_at_once
    FIGURES["parallel"] = {
        "dags": len(runs),
        "jobs_at_once": at_once,
        "seen_running_at_once": running_at_once,
        "rows_archived": rows,
        "throttle_rows_per_second_per_job": 600,
        "workers_used": sorted(hosts),
    }
    save_figures()


def test_unthrottled_throughput_across_both_workers(cluster, data):
    runs = trigger_all(cluster, BULK_DAGS)
    a = cluster.api["a"]
    for dag_id, (_, run_id) in runs.items():
        assert a.wait_run(dag_id, run_id, timeout=240) == "success", dump(a.warm_task(dag_id, run_id))
    intervals, hosts, total, engine_rate, per_job = [], set(), 0, 0.0, {}
    for dag_id, (_k, run_id) in runs.items():
        table, warm_kind, strategy = BULK_DAGS[dag_id]
        n = assert_exact(data, table, warm_kind, strategy)
        total += n
        ti = a.tis(dag_id, run_id)["orders"]
        hosts.add(ti["hostname"])
        intervals.append((ts(ti["start_date"]), ts(ti["end_date"])))
        status = cluster.api["b"].warm_task(dag_id, run_id)["subtasks"][0]
        assert status["rows_archived"] == n
        rv = a.return_value(dag_id, run_id, "orders")
        assert rv["rows_copied"] == n and rv["rows_deleted"] == n
        xcom = a.ok(
            "get",
            f"/api/v2/dags/{dag_id}/dagRuns/{q(run_id)}/taskInstances/orders/xcomEntries/warm_status",
            params={"deserialize": "true"},
        )["value"]
        engine_rate += xcom["rows_per_second"] or 0.0
        per_job[dag_id] = {
            "rows": n,
            "rows_per_second": xcom["rows_per_second"],
            "worker": ti["hostname"],
            "task_seconds": round((intervals[-1][1] - intervals[-1][0]).total_seconds(), 2),
        }
    wall = (max(e for _, e in intervals) - min(s for s, _ in intervals)).total_seconds()
    assert len(hosts) == 2, hosts
    FIGURES["throughput"] = {
        "dags": len(runs),
        "rows_archived": total,
        "jobs_at_once": max_overlap(intervals),
        "wall_seconds_first_start_to_last_end": round(wall, 2),
        "rows_per_second_total_wall": round(total / wall),
        "rows_per_second_sum_of_jobs": round(engine_rate),
        "jobs": per_job,
    }
    save_figures()


# -- monitor actions through either api-server ------------------------------------------------------


def test_terminate_rollback_reexecute_through_either_api_server(cluster, data):
    dag_id = "sc_act"
    first = cluster.api["a"].trigger(dag_id)

    def second_copying():
        t = cluster.api["b"].warm_task(dag_id, first)
        subs = {s["task_id"]: s for s in t["subtasks"]}
        s = subs.get("second") or {}
        return t if s.get("state") == "running" and (s.get("rows_archived") or 0) >= 500 else None

    wait_for(second_copying, 120, what="the second job to copy rows")
    host = cluster.api["a"].tis(dag_id, first)["second"]["hostname"]
    own = cluster.worker_of(host)  # the api-server this worker reports to (execution API)
    other = "b" if own == "a" else "a"
    own_api, other_api = cluster.api[own], cluster.api[other]

    # verify, through the worker's api-server: all well
    v = own_api.warm_action(dag_id, first, "verify")
    assert v["findings"] == [] and v["changes"] == [], v
    # terminate through the OTHER api-server: the job on this worker is killed and stops cleanly
    r = other_api.warm_action(dag_id, first, "terminate")
    assert r["killed_task_ids"] == ["second"], r
    for api in (own_api, other_api):
        wait_for(
            lambda api=api: first in {t["run_id"] for t in api.warm_list(tab="exceptional", dag_id=dag_id)["tasks"]},
            15,
            what=f"the run in Exceptional through api-server {api.name}",
        )

    def stopped():
        x = own_api.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{q(first)}/taskInstances/second/xcomEntries/warm_status",
            params={"deserialize": "true"},
        ).json()["value"]
        return x if x["state"] != "running" else None

    status = wait_for(stopped, 30, what="the terminated job to report that it stopped")
    copied_before_stop = status["rows_copied"]
    archived2, _ = data.expected("act2")
    assert 0 < copied_before_stop < len(archived2)

    # roll back through the worker's api-server, watch it through the other
    m = own_api.warm_action(dag_id, first, "rollback")["maintenance_run_id"]
    assert other_api.wait_run(f"{dag_id}__maintenance", m, timeout=120) == "success"
    for api in (own_api, other_api):
        t = api.warm_task(dag_id, first)
        assert t["rollback_status"] == "rolled_back" and t["source_status"] == "restored", dump(t)
    for table, warm_kind in (("act1", "my"), ("act2", "pg")):
        assert checksum(data.src_rows(table)) == checksum(data.before[table])
        assert data.warm_rows(table, warm_kind) == {}

    # re-execute from the first job through the other api-server; it runs on whichever worker
    r = other_api.warm_action(dag_id, first, "subtasks/first/reexecute")
    new = r["new_run_id"]
    assert own_api.wait_run(dag_id, new, timeout=180) == "success", dump(own_api.warm_task(dag_id, new))
    assert_exact(data, "act1", "my", "move")
    assert_exact(data, "act2", "pg", "move")
    # both api-servers show the same linked pair
    views = []
    for api in (own_api, other_api):
        old_t, new_t = api.warm_task(dag_id, first), api.warm_task(dag_id, new)
        assert old_t["reexecuted_as"] == new and new_t["reexecution_of"] == first
        assert new_t["state"] == "success" and new_t["rows_archived"] == sum(
            len(data.expected(x)[0]) for x in ("act1", "act2")
        )
        views.append(
            [
                (
                    t["state"],
                    t["rollback_status"],
                    t["source_status"],
                    t["rows_archived"],
                    [(s["task_id"], s["state"], s["rows_archived"], s["try_number"]) for s in t["subtasks"]],
                )
                for t in (old_t, new_t)
            ]
        )
    assert views[0] == views[1]
    # every write is in the shared action table, whichever api-server took it
    for api in (own_api, other_api):
        acts = api.ok("get", "/warm/api/v1/actions", params={"limit": 100})["actions"]
        kinds = {(x["action"], x["outcome"]) for x in acts if x["dag_id"] == dag_id}
        assert {("verify", "ok"), ("terminate", "ok"), ("rollback", "ok"), ("reexecute", "ok")} <= kinds, kinds
    FIGURES["actions"] = {
        "terminated_on_worker": host,
        "terminated_through_api_server": other,
        "rows_copied_before_terminate": copied_before_stop,
    }
    save_figures()


# -- queues and pools -----------------------------------------------------------------------------------


def test_queue_routes_jobs_and_pool_bounds_jobs_per_source_database(cluster, data):
    a, b = cluster.api["a"], cluster.api["b"]
    runs = trigger_all(cluster, ["sc_pool1", "sc_pool2", "sc_queued"])
    max_running = 0
    deadline = time.time() + 180
    while True:
        pool = a.ok("get", f"/api/v2/pools/{MY_POOL}")
        max_running = max(max_running, pool["running_slots"] + pool.get("queued_slots", 0))
        states = [b.run(d, r)["state"] for d, (_, r) in runs.items()]
        if all(s in ("success", "failed") for s in states):
            break
        assert time.time() < deadline, states
        time.sleep(0.3)
    assert all(s == "success" for s in states), states
    assert max_running <= 1

    pool_intervals = []
    for dag_id in ("sc_pool1", "sc_pool2"):
        ti = a.tis(dag_id, runs[dag_id][1])["orders"]
        assert ti["pool"] == MY_POOL and ti["queue"] == "default"
        pool_intervals.append((ts(ti["start_date"]), ts(ti["end_date"])))
        assert_exact(data, dag_id[3:], "pg", "copy_then_delete")
    # one slot for the MariaDB source: the two jobs on it ran one after the other
    assert max_overlap(pool_intervals) == 1, pool_intervals

    ti = a.tis("sc_queued", runs["sc_queued"][1])["orders"]
    assert ti["queue"] == "near_pg" and ti["pool"] == "default_pool"
    assert ti["hostname"] == WORKER_HOST["b"]  # the only worker consuming near_pg
    assert_exact(data, "queued", "pg", "move")
    # jobs without a queue/pool key got Airflow's defaults
    par = a.tis("sc_par_pgpg", a.ok("get", "/api/v2/dags/sc_par_pgpg/dagRuns")["dag_runs"][0]["dag_run_id"])["orders"]
    assert par["queue"] == "default" and par["pool"] == "default_pool"


# -- kill -9 of a worker mid-job (last: it leaves one worker) -----------------------------------------


def test_kill9_of_a_worker_mid_job_retries_on_the_other_without_loss_or_duplicates(cluster, data):
    a, b = cluster.api["a"], cluster.api["b"]
    dag_id = "sc_kill"
    run_id = b.trigger(dag_id)
    archived, _ = data.expected("kill")

    def copying():
        t = a.warm_task(dag_id, run_id)
        s = t["subtasks"][0] if t["subtasks"] else {}
        return s if s.get("state") == "running" and (s.get("rows_archived") or 0) >= 1200 else None

    wait_for(copying, 120, what="the job to copy rows")
    host = a.tis(dag_id, run_id)["orders"]["hostname"]
    victim = cluster.worker_of(host)
    survivor = "b" if victim == "a" else "a"
    killed_at = time.time()
    pids = cluster.procs[f"worker-{victim}"].kill9()
    assert len(pids) >= 3  # the worker, its pool, the task supervisor/process
    assert [n.split("@")[0] for n in cluster.celery_ping()] == [f"warm-{survivor}"]
    partial = len(data.warm_rows("kill", "my"))
    assert 0 < partial < len(archived)

    # the scheduler sees no heartbeat, fails try 1 and retries it; the survivor resumes the job
    api = cluster.api[survivor]
    assert api.wait_run(dag_id, run_id, timeout=240) == "success", dump(api.warm_task(dag_id, run_id)) + cluster.tails()
    recovered_s = time.time() - killed_at
    tries = api.tries(dag_id, run_id, "orders")
    assert tries[0]["hostname"] == host and tries[0]["state"] in ("failed", "up_for_retry"), tries
    assert tries[-1]["hostname"] == WORKER_HOST[survivor] and tries[-1]["state"] == "success", tries
    assert len(tries) >= 2

    # nothing lost, nothing duplicated
    assert_exact(data, "kill", "my", "move")
    rv = api.return_value(dag_id, run_id, "orders")
    assert rv["rows_copied"] == len(archived) and rv["rows_deleted"] == len(archived), rv
    ledger = (
        data.db["my"]
        .execute(
            "SELECT COALESCE(SUM(rows_inserted), 0), COALESCE(SUM(rows_deleted), 0), COUNT(*) FROM warm_archive_ledger "
            "WHERE dag_id = %s AND run_id = %s AND batch_no > 0",
            (dag_id, run_id),
        )
        .fetchone()
    )
    assert (int(ledger[0]), int(ledger[1])) == (len(archived), len(archived)), ledger
    vr = api.ok("post", f"/warm/api/v1/tasks/{dag_id}/{run_id}/maintenance", json={"action": "verify"})[
        "maintenance_run_id"
    ]
    assert api.wait_run(f"{dag_id}__maintenance", vr, timeout=120) == "success"
    report = api.return_value(f"{dag_id}__maintenance", vr, "maintain")
    assert report["jobs"]["orders"]["lost"] == 0, report
    t = cluster.api[victim].warm_task(dag_id, run_id)  # the killed worker's api-server still answers
    assert t["state"] == "success" and t["subtasks"][0]["try_number"] == len(tries)
    FIGURES["kill9"] = {
        "killed_worker": host,
        "rows_in_warm_at_kill": partial,
        "rows_total": len(archived),
        "tries": [(x["try_number"], x["hostname"], x["state"]) for x in tries],
        "seconds_from_kill_to_success": round(recovered_s, 1),
        "heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S,
        "ledger_batches": int(ledger[2]),
    }
    save_figures()
