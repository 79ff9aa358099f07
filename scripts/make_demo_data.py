"""Creates the demo's hot database (SQLite): 250,000 orders over the last three years and their
order lines, deterministic. The warm database starts empty; the demo warm DAG fills it."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import sys
from pathlib import Path

ORDERS = 250_000


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    hot = out / "hot.db"
    for f in (hot, out / "warm.db"):
        f.unlink(missing_ok=True)
    rnd = random.Random(2026)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    start = now - dt.timedelta(days=3 * 365)
    step = (now - start) / ORDERS
    db = sqlite3.connect(hot)
    db.executescript("""
        PRAGMA journal_mode = WAL;
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, created_at TIMESTAMP NOT NULL,
            status VARCHAR(16) NOT NULL, amount NUMERIC(12,2) NOT NULL, currency CHAR(3) NOT NULL,
            note TEXT);
        CREATE INDEX orders_created_at ON orders (created_at);
        CREATE TABLE order_items (
            order_id INTEGER NOT NULL, line_no INTEGER NOT NULL, sku VARCHAR(32) NOT NULL,
            quantity INTEGER NOT NULL, unit_price NUMERIC(10,2) NOT NULL,
            PRIMARY KEY (order_id, line_no));
    """)
    statuses = ["delivered"] * 8 + ["returned", "cancelled"]
    orders, items = [], []
    for i in range(1, ORDERS + 1):
        created = start + step * i
        lines = rnd.randint(1, 3)
        total = 0
        for line in range(1, lines + 1):
            price = rnd.randint(199, 19999) / 100
            qty = rnd.randint(1, 4)
            total += price * qty
            items.append((i, line, f"SKU-{rnd.randint(1, 5000):05d}", qty, f"{price:.2f}"))
        orders.append(
            (
                i,
                rnd.randint(1, 40_000),
                created.isoformat(sep=" "),
                rnd.choice(statuses),
                f"{total:.2f}",
                rnd.choice(["EUR", "USD", "GBP"]),
                None if i % 4 else f"gift wrap, leave at door #{i}",
            )
        )
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)", orders)
    db.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?)", items)
    db.commit()
    n_items = db.execute("SELECT COUNT(*) FROM order_items").fetchone()[0]
    db.close()
    sqlite3.connect(out / "warm.db").close()
    print(f"demo data: {ORDERS:,} orders and {n_items:,} order lines in {hot}")


if __name__ == "__main__":
    main(sys.argv[1])
