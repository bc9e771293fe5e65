"""Checks a peer's features against Volga's history: for every row (user_id, ts, avg_spent_7d,
avg_spent_1h, num_purchases_1w) the peer wrote, Volga's row for that user as of ts (its last at
or before ts) must have the same count and averages equal within 1e-9 relative (the peers sum
floats inexactly; Volga's sums are exact).

Usage: python compare_features.py VOLGA_HISTORY_CSV PEER_CSV  -> prints one JSON line.
"""

import bisect
import csv
import json
import sys


def close(a: str, b: str) -> bool:
    if a == "" or b == "":
        return a == b
    x, y = float(a), float(b)
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))


def main(volga_csv: str, peer_csv: str) -> None:
    history: dict[str, tuple[list[int], list[dict]]] = {}
    with open(volga_csv) as f:
        for row in csv.DictReader(f):
            times, rows = history.setdefault(row["user_id"], ([], []))
            times.append(int(row["timestamp"]))
            rows.append(row)
    for times, rows in history.values():
        order = sorted(range(len(times)), key=times.__getitem__)
        times[:] = [times[i] for i in order]
        rows[:] = [rows[i] for i in order]

    checked = mismatches = 0
    first = None
    with open(peer_csv) as f:
        for row in csv.DictReader(f):
            if row.get("diff", "1") != "1":
                continue  # a retraction in an update stream (Pathway's output has `diff`)
            checked += 1
            times, rows = history.get(row["user_id"], ([], []))
            i = bisect.bisect_right(times, int(row["ts"])) - 1
            ours = rows[i] if i >= 0 else None
            same = (
                ours is not None
                and int(ours["num_purchases_1w"]) == int(row["num_purchases_1w"])
                and close(ours["avg_spent_7d"], row["avg_spent_7d"])
                and close(ours["avg_spent_1h"], row["avg_spent_1h"])
            )
            if not same:
                mismatches += 1
                if first is None:
                    first = {"peer": row, "volga": ours}
    print(json.dumps({"checked": checked, "mismatches": mismatches, "first_mismatch": first}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
