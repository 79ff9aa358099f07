"""An open-loop application on MariaDB's ``bench_src.orders``, for ``bench/run --live``.

``python -m bench.live_app --rate R --rows N --seconds S --out FILE`` (``--rate 0``: closed loop,
every worker as fast as it can: the capacity). Request ``i`` is scheduled at ``start + i / R``
whatever happened before (open loop); a pool of worker threads, each with its own connection,
takes the next request, waits for its time and runs it; its latency is counted from its
scheduled start, so a stall of the server shows as the queue it builds (as ``pgbench -R`` counts
it). The mix, the same as the PostgreSQL script's (live.py): 40 % point reads of recent orders,
25 % updates of recent orders, 15 % inserts of new orders, 20 % small range reads (20 keys).
Stops after ``--seconds`` or on SIGTERM/SIGINT, then writes ``[[scheduled_epoch, latency_ms, ok],
...]`` and the errors to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import threading
import time

from bench.config import MY_HOST, MY_PORT, MY_USER, SRC_TABLE

READ = f"SELECT * FROM {SRC_TABLE} WHERE id = %s"
UPDATE = f"UPDATE {SRC_TABLE} SET status = 'paid', amount = amount + 1 WHERE id = %s"
INSERT = (
    f"INSERT INTO {SRC_TABLE} (id, created_at, customer_id, amount, status, note)"
    " VALUES (%s, NOW(6), %s, 12.50, 'new', 'a new order from the live load')"
)
RANGE = f"SELECT id, amount FROM {SRC_TABLE} WHERE id BETWEEN %s AND %s + 20"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    import MySQLdb

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lock = threading.Lock()
    counter = [0]
    results: list[list] = []
    errors: list[str] = []
    recent_lo = 2 * a.rows // 3 + 1  # the rows the job never archives
    first_new = a.rows * 10 + int(time.time() * 1000) % 1_000_000 * 1000  # unique per invocation
    conns = []
    for _ in range(a.workers):
        c = MySQLdb.connect(host=MY_HOST, port=MY_PORT, user=MY_USER, charset="utf8mb4")
        c.autocommit(True)
        conns.append(c)
    start = time.time() + 0.2
    end = start + a.seconds

    def worker(conn) -> None:
        cur = conn.cursor()
        rnd = random.Random()
        mine: list[list] = []
        while not stop.is_set():
            with lock:
                i = counter[0]
                counter[0] += 1
            at = start + i / a.rate if a.rate else time.time()
            if at >= end:
                break
            wait = at - time.time()
            if wait > 0:
                if stop.wait(wait):
                    break
            op = i % 20
            rid = rnd.randint(recent_lo, a.rows)
            ok = True
            try:
                if op < 8:
                    cur.execute(READ, (rid,))
                    cur.fetchall()
                elif op < 13:
                    cur.execute(UPDATE, (rid,))
                elif op < 16:
                    cur.execute(INSERT, (first_new + i, rid % 50000 + 1))
                else:
                    cur.execute(RANGE, (rid, rid))
                    cur.fetchall()
            except Exception as e:
                ok = False
                with lock:
                    if len(errors) < 20:
                        errors.append(str(e)[:200])
                    else:
                        errors.append("")
            mine.append([at, (time.time() - at) * 1000, ok])
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(a.out, "w") as f:
        json.dump({"requests": results, "errors": [e for e in errors if e], "error_count": len(errors)}, f)


if __name__ == "__main__":
    main()
