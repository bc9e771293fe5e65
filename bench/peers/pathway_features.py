"""The reference pipeline in Pathway (a differential-dataflow engine with a Python API): on-sale
orders joined to their buyer (registered at or before the order), then per user the average
price over the last 7 days and the last hour and the number of purchases over the last week, as
of every order. Pathway has no trailing-window aggregate, so each order is interval-joined with
its user's orders of the last 7 days and the pairs are reduced per order.

Windows are (T - w, T] over integer milliseconds, as in Volga.

Usage: python pathway_features.py DATA_DIR OUT_CSV  -> prints one JSON line of figures.
Threads: PATHWAY_THREADS (the harness sets it to the machine's cores).
"""

import json
import os
import sys
import time

import pathway as pw

HOUR_MS = 3_600_000
WEEK_MS = 7 * 24 * HOUR_MS


class User(pw.Schema):
    user_id: str
    registered_at: int
    name: str


class Order(pw.Schema):
    buyer_id: str
    product_id: str
    product_type: str
    purchased_at: int
    product_price: float


def main(data_dir: str, out_csv: str) -> None:
    started = time.perf_counter()
    users = pw.io.csv.read(f"{data_dir}/users.csv", schema=User, mode="static")
    orders = pw.io.csv.read(f"{data_dir}/orders.csv", schema=Order, mode="static")

    on_sale = orders.filter(pw.this.product_type == "ON_SALE")
    per_user = (
        on_sale.join(users, pw.left.buyer_id == pw.right.user_id)
        .select(
            user_id=pw.left.buyer_id,
            ts=pw.left.purchased_at,
            price=pw.left.product_price,
            registered_at=pw.right.registered_at,
        )
        .filter(pw.this.ts >= pw.this.registered_at)
    )
    earlier = per_user.copy()
    pairs = per_user.interval_join(
        earlier,
        per_user.ts,
        earlier.ts,
        pw.temporal.interval(-(WEEK_MS - 1), 0),
        per_user.user_id == earlier.user_id,
    ).select(
        order=per_user.id,
        user_id=per_user.user_id,
        ts=per_user.ts,
        price=earlier.price,
        in_hour=pw.if_else(earlier.ts > per_user.ts - HOUR_MS, 1, 0),
        hour_price=pw.if_else(earlier.ts > per_user.ts - HOUR_MS, earlier.price, 0.0),
    )
    features = pairs.groupby(pw.this.order).reduce(
        user_id=pw.reducers.any(pw.this.user_id),
        ts=pw.reducers.any(pw.this.ts),
        num_purchases_1w=pw.reducers.count(),
        sum_7d=pw.reducers.sum(pw.this.price),
        sum_1h=pw.reducers.sum(pw.this.hour_price),
        num_1h=pw.reducers.sum(pw.this.in_hour),
    ).select(
        pw.this.user_id,
        pw.this.ts,
        avg_spent_7d=pw.this.sum_7d / pw.this.num_purchases_1w,
        avg_spent_1h=pw.this.sum_1h / pw.this.num_1h,
        num_purchases_1w=pw.this.num_purchases_1w,
    )
    pw.io.csv.write(features, out_csv)
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    total_s = time.perf_counter() - started

    with open(f"{data_dir}/users.csv") as f:
        events = sum(1 for _ in f) - 1
    with open(f"{data_dir}/orders.csv") as f:
        events += sum(1 for _ in f) - 1
    with open(out_csv) as f:
        rows = sum(1 for _ in f) - 1
    print(json.dumps({
        "peer": "pathway",
        "version": pw.__version__,
        "events": events,
        "rows_out": rows,
        "total_s": total_s,
        "threads": int(os.environ.get("PATHWAY_THREADS", "1")),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
