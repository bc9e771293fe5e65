"""The reference pipeline in DuckDB: on-sale orders joined to their buyer (registered at or
before the order), then per user the average price over the last 7 days and the last hour and
the number of purchases over the last week, as of every order, with SQL window functions.

Windows are (T - w, T] over integer milliseconds, as in Volga. DuckDB sums floats in whatever
order its threads meet them, so its averages may differ from Volga's exact ones in the last bits.

Usage: python duckdb_features.py DATA_DIR OUT_CSV  -> prints one JSON line of figures.
"""

import json
import sys
import time

import duckdb

HOUR_MS = 3_600_000
WEEK_MS = 7 * 24 * HOUR_MS


def main(data_dir: str, out_csv: str) -> None:
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"""
        CREATE TABLE users AS SELECT * FROM read_csv('{data_dir}/users.csv', header = true,
            columns = {{'user_id': 'VARCHAR', 'registered_at': 'BIGINT', 'name': 'VARCHAR'}});
        CREATE TABLE orders AS SELECT * FROM read_csv('{data_dir}/orders.csv', header = true,
            columns = {{'buyer_id': 'VARCHAR', 'product_id': 'VARCHAR', 'product_type': 'VARCHAR',
                        'purchased_at': 'BIGINT', 'product_price': 'DOUBLE'}});
        """
    )
    events = con.execute("SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM orders)").fetchone()[0]
    read_s = time.perf_counter() - started
    con.execute(
        f"""
        COPY (
            WITH per_user AS (
                SELECT o.buyer_id AS user_id, o.purchased_at AS ts, o.product_price AS price
                FROM orders o JOIN users u
                  ON o.buyer_id = u.user_id AND o.purchased_at >= u.registered_at
                WHERE o.product_type = 'ON_SALE'
            )
            SELECT user_id, ts,
                   avg(price) OVER w7 AS avg_spent_7d,
                   avg(price) OVER w1 AS avg_spent_1h,
                   count(*) OVER w7 AS num_purchases_1w
            FROM per_user
            WINDOW w7 AS (PARTITION BY user_id ORDER BY ts
                          RANGE BETWEEN {WEEK_MS - 1} PRECEDING AND CURRENT ROW),
                   w1 AS (PARTITION BY user_id ORDER BY ts
                          RANGE BETWEEN {HOUR_MS - 1} PRECEDING AND CURRENT ROW)
        ) TO '{out_csv}' (HEADER)
        """
    )
    total_s = time.perf_counter() - started
    rows = con.execute(f"SELECT count(*) FROM read_csv('{out_csv}', header = true)").fetchone()[0]
    print(json.dumps({
        "peer": "duckdb",
        "version": duckdb.__version__,
        "events": events,
        "rows_out": rows,
        "read_s": read_s,
        "total_s": total_s,
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
