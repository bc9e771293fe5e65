//! `volga materialize-offline` + `volga training-set` against the independent reference, bit
//! for bit, on randomized data with ties and exact window edges.

use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::reference::{self, DAY, HOUR};
use crate::support::{guest, read_csv, volga_ok, workspace, write_inputs};

/// A feature cell: empty, or a float / int compared by bits.
pub fn cell(text: &str) -> Option<u64> {
    if text.is_empty() {
        None
    } else {
        let value: f64 = text.parse().unwrap_or_else(|_| panic!("not a number: {text}"));
        assert_eq!(value.to_string().parse::<f64>().unwrap().to_bits(), value.to_bits());
        Some(value.to_bits())
    }
}

fn bits(value: Option<f64>) -> Option<u64> {
    value.map(f64::to_bits)
}

/// Spine rows `(user, time)` for every user (known, unknown and never seen), shuffled.
fn spine(orders: &[reference::Order], users: usize, seed: u64) -> Vec<(String, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let times = reference::spine_times(orders, &mut rng, 60);
    let mut rows: Vec<(String, i64)> =
        (0..users + 4).flat_map(|u| times.iter().map(move |&t| (format!("u{u}"), t))).collect();
    rows.shuffle(&mut rng);
    rows
}

pub fn write_spine(dir: &Path, rows: &[(String, i64)]) {
    let mut text = String::from("user_id,timestamp\n");
    for (user, time) in rows {
        text.push_str(&format!("{user},{time}\n"));
    }
    std::fs::write(dir.join("spine.csv"), text).unwrap();
}

/// `volga materialize-offline --targets DATASET` then `volga training-set DATASET` on the given
/// inputs and spine, as a user runs them: the output CSV's header and rows.
pub fn training_set(
    wasm: &Path,
    dataset: &str,
    users: &[reference::User],
    orders: &[reference::Order],
    spine: &[(String, i64)],
) -> (Vec<String>, Vec<Vec<String>>) {
    let dir = workspace();
    write_inputs(dir.path(), users, orders);
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap(), "--targets", dataset]);
    write_spine(dir.path(), spine);
    volga_ok(dir.path(), &["training-set", dataset, "--spine", "spine.csv", "-o", "out.csv"]);
    read_csv(&dir.path().join("out.csv"))
}

#[test]
fn on_sale_features_match_the_reference_bit_for_bit() {
    let wasm = guest("example");
    let mut compared = 0;
    for seed in 0..4 {
        let (users, orders) = reference::generate(seed, 25, 1500);
        let spine = spine(&orders, 25, seed);
        let (header, rows) = training_set(&wasm, "OnSaleUserSpentInfo", &users, &orders, &spine);
        assert_eq!(header, ["user_id", "timestamp", "avg_spent_7d", "avg_spent_1h", "num_purchases_1w"]);
        assert_eq!(rows.len(), spine.len());
        let joined = reference::joined(&users, &orders, true);
        for (row, (user, time)) in rows.iter().zip(&spine) {
            assert_eq!((&row[0], &row[1]), (user, &time.to_string()), "output keeps the spine's order");
            let expected = if reference::has_row(&joined, user, *time) {
                let week = reference::window(&joined, user, *time, Some(7 * DAY));
                let hour = reference::window(&joined, user, *time, Some(HOUR));
                [bits(reference::avg(&week)), bits(reference::avg(&hour)), bits(Some(week.len() as f64))]
            } else {
                [None, None, None]
            };
            let found = [cell(&row[2]), cell(&row[3]), cell(&row[4])];
            assert_eq!(found, expected, "seed {seed}, user {user} as of {time}: {row:?}");
            compared += 3;
        }
    }
    println!("compared {compared} feature values with the reference: 0 mismatches");
}

#[test]
fn every_aggregate_and_forever_windows_match_the_reference() {
    let wasm = guest("lambdas");
    let mut compared = 0;
    for seed in 10..12 {
        let (users, orders) = reference::generate(seed, 15, 1000);
        let spine = spine(&orders, 15, seed);
        let (header, rows) = training_set(&wasm, "SpendTotals", &users, &orders, &spine);
        assert_eq!(header, ["user_id", "timestamp", "total", "orders_2h", "max_1h", "min_1d", "avg_forever"]);
        let joined = reference::joined(&users, &orders, false);
        let fold = |xs: Vec<f64>, f: fn(f64, f64) -> f64| xs.into_iter().reduce(f);
        for (row, (user, time)) in rows.iter().zip(&spine) {
            let expected = if reference::has_row(&joined, user, *time) {
                let all = reference::window(&joined, user, *time, None);
                [
                    bits(Some(reference::fsum(&all))),
                    bits(Some(reference::window(&joined, user, *time, Some(2 * HOUR)).len() as f64)),
                    bits(fold(reference::window(&joined, user, *time, Some(HOUR)), f64::max)),
                    bits(fold(reference::window(&joined, user, *time, Some(DAY)), f64::min)),
                    bits(reference::avg(&all)),
                ]
            } else {
                [None; 5]
            };
            let found = [cell(&row[2]), cell(&row[3]), cell(&row[4]), cell(&row[5]), cell(&row[6])];
            assert_eq!(found, expected, "seed {seed}, user {user} as of {time}: {row:?}");
            compared += 5;
        }
    }
    println!("compared {compared} aggregate values with the reference: 0 mismatches");
}

#[test]
fn tumbling_and_hopping_windows_cover_the_last_closed_bucket() {
    let wasm = guest("lambdas");
    let mut compared = 0;
    for seed in 30..32 {
        let (users, orders) = reference::generate(seed, 12, 800);
        // Epoch-aligned edges of 30-minute hops, hours and days near the orders, +-1 ms.
        let mut rng = StdRng::seed_from_u64(seed);
        let mut times = vec![reference::START - DAY, reference::START + 30 * DAY];
        for _ in 0..60 {
            let ts = orders[rng.random_range(0..orders.len())].ts;
            let unit = [30 * 60_000, HOUR, 2 * HOUR, DAY][rng.random_range(0..4)];
            let edge = (ts.div_euclid(unit) + rng.random_range(0..3)) * unit;
            times.push(edge + rng.random_range(-1..=1));
        }
        let spine: Vec<(String, i64)> =
            (0..15).flat_map(|u| times.iter().map(move |&t| (format!("u{u}"), t))).collect();
        let (header, rows) = training_set(&wasm, "BucketTotals", &users, &orders, &spine);
        assert_eq!(
            header,
            [
                "user_id",
                "timestamp",
                "total_1h_bucket",
                "orders_2h_hop_30m",
                "avg_1d_bucket",
                "max_1h_hop_2h"
            ]
        );
        let joined = reference::joined(&users, &orders, false);
        // (width, stride) of each aggregate's window, in output order.
        let windows = [(HOUR, HOUR), (2 * HOUR, 30 * 60_000), (DAY, DAY), (HOUR, 2 * HOUR)];
        for (row, (user, time)) in rows.iter().zip(&spine) {
            // The key has a row once any of its rows is in a closed bucket or hop.
            let first = joined
                .iter()
                .filter(|(u, ..)| u == user)
                .flat_map(|(_, ts, _)| {
                    windows.iter().filter_map(|&(w, s)| reference::first_closed_hop(*ts, w, s))
                })
                .min();
            let expected = if first.is_some_and(|f| f <= *time) {
                let hop = |(w, s): (i64, i64)| reference::last_hop(&joined, user, *time, w, s);
                [
                    bits(Some(reference::fsum(&hop(windows[0])))),
                    bits(Some(hop(windows[1]).len() as f64)),
                    bits(reference::avg(&hop(windows[2]))),
                    bits(hop(windows[3]).into_iter().reduce(f64::max)),
                ]
            } else {
                [None; 4]
            };
            let found = [cell(&row[2]), cell(&row[3]), cell(&row[4]), cell(&row[5])];
            assert_eq!(found, expected, "seed {seed}, user {user} as of {time}: {row:?}");
            compared += 4;
        }
    }
    println!("compared {compared} bucket and hop aggregates with the reference: 0 mismatches");
}

#[test]
fn session_windows_cover_the_last_closed_session() {
    let wasm = guest("lambdas");
    let mut compared = 0;
    for seed in 50..52 {
        // Few orders per user, so gaps of an hour or more are common.
        let (users, orders) = reference::generate(seed, 12, 400);
        let joined = reference::joined(&users, &orders, false);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut times = reference::spine_times(&orders, &mut rng, 40);
        // Session closes: last row + gap, +-1 ms.
        for _ in 0..30 {
            let (_, ts, _) = &joined[rng.random_range(0..joined.len())];
            let gap = [HOUR, 3 * HOUR][rng.random_range(0..2)];
            times.push(ts + gap + rng.random_range(-1..=1));
        }
        let spine: Vec<(String, i64)> =
            (0..15).flat_map(|u| times.iter().map(move |&t| (format!("u{u}"), t))).collect();
        let (header, rows) = training_set(&wasm, "SessionTotals", &users, &orders, &spine);
        assert_eq!(
            header,
            ["user_id", "timestamp", "orders_1h_session", "spent_1h_session", "avg_3h_session"]
        );
        for (row, (user, time)) in rows.iter().zip(&spine) {
            let first_close = [HOUR, 3 * HOUR]
                .iter()
                .filter_map(|&gap| reference::sessions(&joined, user, gap).first().map(|(close, _)| *close))
                .min();
            let expected = if first_close.is_some_and(|c| c <= *time) {
                let one = reference::last_session(&joined, user, *time, HOUR);
                [
                    bits(Some(one.len() as f64)),
                    bits(Some(reference::fsum(&one))),
                    bits(reference::avg(&reference::last_session(&joined, user, *time, 3 * HOUR))),
                ]
            } else {
                [None; 3]
            };
            let found = [cell(&row[2]), cell(&row[3]), cell(&row[4])];
            assert_eq!(found, expected, "seed {seed}, user {user} as of {time}: {row:?}");
            compared += 3;
        }
    }
    println!("compared {compared} session aggregates with the reference: 0 mismatches");
}

/// Nearest-rank quantile: the value at 1-based rank `max(1, ceil(p * n))`.
fn nearest_rank(mut xs: Vec<f64>, p: f64) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    let rank = ((p * xs.len() as f64).ceil() as usize).max(1);
    xs.get(rank - 1).copied()
}

/// Population stddev: `sqrt(fsum((x - m)^2) / n)`, `m = fsum(xs) / n`.
fn stddev(xs: &[f64]) -> Option<f64> {
    let mean = reference::avg(xs)?;
    let squares: Vec<f64> = xs.iter().map(|x| (x - mean) * (x - mean)).collect();
    Some((reference::fsum(&squares) / xs.len() as f64).sqrt())
}

#[test]
fn stddev_distinct_and_quantiles_match_the_reference() {
    let wasm = guest("lambdas");
    let mut compared = 0;
    for seed in 40..42 {
        let (users, orders) = reference::generate(seed, 12, 900);
        let spine = spine(&orders, 12, seed);
        let (header, rows) = training_set(&wasm, "SpreadStats", &users, &orders, &spine);
        assert_eq!(
            header,
            ["user_id", "timestamp", "stddev_1d", "products_forever", "median_2h", "p90_1d_bucket"]
        );
        let joined = reference::joined(&users, &orders, false);
        let matched: Vec<&reference::Order> = orders
            .iter()
            .filter(|o| users.iter().any(|u| u.id == o.buyer && u.registered_at <= o.ts))
            .collect();
        for (row, (user, time)) in rows.iter().zip(&spine) {
            let expected = if reference::has_row(&joined, user, *time) {
                let mut products: Vec<&str> = matched
                    .iter()
                    .filter(|o| &o.buyer == user && o.ts <= *time)
                    .map(|o| o.product.as_str())
                    .collect();
                products.sort();
                products.dedup();
                [
                    bits(stddev(&reference::window(&joined, user, *time, Some(DAY)))),
                    bits(Some(products.len() as f64)),
                    bits(nearest_rank(reference::window(&joined, user, *time, Some(2 * HOUR)), 0.5)),
                    bits(nearest_rank(reference::last_hop(&joined, user, *time, DAY, DAY), 0.9)),
                ]
            } else {
                [None; 4]
            };
            let found = [cell(&row[2]), cell(&row[3]), cell(&row[4]), cell(&row[5])];
            assert_eq!(found, expected, "seed {seed}, user {user} as of {time}: {row:?}");
            compared += 4;
        }
    }
    println!("compared {compared} stddev, distinct and quantile values with the reference: 0 mismatches");
}

#[test]
fn transform_emits_rows_at_their_input_time() {
    let wasm = guest("lambdas");
    let dir = workspace();
    let (users, orders) = reference::generate(3, 10, 800);
    write_inputs(dir.path(), &users, &orders);
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap(), "--targets", "LargeOrder"]);
    let json = volga_ok(dir.path(), &["get-offline", "LargeOrder", "--format", "json"]);
    let mut found: Vec<(String, i64, i64)> = json
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["buyer_id"].as_str().unwrap().to_string(),
                v["purchased_at"].as_i64().unwrap(),
                v["price_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut expected: Vec<(String, i64, i64)> = orders
        .iter()
        .filter(|o| o.price >= 500.0)
        .map(|o| (o.buyer.clone(), o.ts, (o.price * 100.0).round() as i64))
        .collect();
    found.sort();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(found, expected);

    // The time range is `start <= ts < end`.
    let (start, end) = (reference::START + DAY, reference::START + 3 * DAY);
    let csv = volga_ok(
        dir.path(),
        &["get-offline", "LargeOrder", "--start", &start.to_string(), "--end", &end.to_string()],
    );
    let in_range = expected.iter().filter(|(_, ts, _)| (start..end).contains(ts)).count();
    assert_eq!(csv.lines().count(), in_range + 1, "header plus the rows in range");
}

#[test]
fn native_dropnull_drop_rename_and_select_reshape_rows() {
    let wasm = guest("lambdas");
    let dir = workspace();
    let (users, orders) = reference::generate(6, 12, 600);
    write_inputs(dir.path(), &users, &orders);
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap(), "--targets", "NamedOrder"]);
    let (header, rows) = {
        volga_ok(dir.path(), &["get-offline", "NamedOrder", "-o", "named.csv"]);
        read_csv(&dir.path().join("named.csv"))
    };
    assert_eq!(header, ["buyer", "purchased_at", "price", "name"]);
    let mut found: Vec<(String, i64, u64, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap(), cell(&r[2]).unwrap(), r[3].clone()))
        .collect();
    // Orders whose buyer has a version as of the order, with that version's name.
    let mut expected: Vec<(String, i64, u64, String)> = orders
        .iter()
        .filter_map(|o| {
            let user = users
                .iter()
                .filter(|u| u.id == o.buyer && u.registered_at <= o.ts)
                .max_by(|a, b| (a.registered_at, &a.name).cmp(&(b.registered_at, &b.name)))?;
            Some((o.buyer.clone(), o.ts, o.price.to_bits(), user.name.clone()))
        })
        .collect();
    found.sort();
    expected.sort();
    assert!(expected.len() < orders.len(), "some orders have no known buyer and are dropped");
    assert_eq!(found, expected);
}

#[test]
fn a_union_has_the_rows_of_every_input() {
    let wasm = guest("lambdas");
    let dir = workspace();
    let (users, mut orders) = reference::generate(8, 10, 500);
    // A third kind that neither filter keeps.
    for order in orders.iter_mut().step_by(7) {
        order.kind = "OTHER".into();
    }
    write_inputs(dir.path(), &users, &orders);
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap(), "--targets", "ReunitedOrder"]);
    volga_ok(dir.path(), &["get-offline", "ReunitedOrder", "-o", "union.csv"]);
    let (header, rows) = read_csv(&dir.path().join("union.csv"));
    assert_eq!(header, ["buyer_id", "product_id", "product_type", "purchased_at", "product_price"]);
    let mut found: Vec<Vec<String>> = rows;
    let mut expected: Vec<Vec<String>> = orders
        .iter()
        .filter(|o| o.kind != "OTHER")
        .map(|o| {
            vec![
                o.buyer.clone(),
                o.product.clone(),
                o.kind.clone(),
                o.ts.to_string(),
                format!("{:?}", o.price),
            ]
        })
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found.len(), expected.len());
    assert_eq!(found, expected);
}

#[test]
fn first_and_latest_keep_each_keys_first_and_latest_row() {
    let wasm = guest("lambdas");
    let mut compared = 0;
    for seed in 60..62 {
        let (users, orders) = reference::generate(seed, 10, 600);
        let spine = spine(&orders, 10, seed);
        // Rows order by time, then by their other fields in declared order (floats by total order).
        let order = |a: &&reference::Order, b: &&reference::Order| {
            (a.ts, &a.product, &a.kind).cmp(&(b.ts, &b.product, &b.kind)).then(a.price.total_cmp(&b.price))
        };
        for (dataset, latest) in [("LatestOrder", true), ("FirstOrder", false)] {
            let (header, rows) = training_set(&wasm, dataset, &users, &orders, &spine);
            assert_eq!(
                header,
                ["user_id", "timestamp", "product_id", "product_type", "product_price"],
                "{dataset}"
            );
            for (row, (user, time)) in rows.iter().zip(&spine) {
                let mine = orders.iter().filter(|o| &o.buyer == user);
                let pick = if latest {
                    mine.filter(|o| o.ts <= *time).max_by(order)
                } else {
                    mine.min_by(order).filter(|o| o.ts <= *time)
                };
                let expected = match pick {
                    Some(o) => vec![o.product.clone(), o.kind.clone(), format!("{:?}", o.price)],
                    None => vec![String::new(); 3],
                };
                assert_eq!(row[2..], expected[..], "{dataset}, seed {seed}, {user} as of {time}");
                compared += 3;
            }
        }
    }
    println!("compared {compared} first and latest values with the reference: 0 mismatches");
}

#[test]
fn dedup_keeps_the_first_row_of_its_values_per_window() {
    let wasm = guest("lambdas");
    let dir = workspace();
    let (users, mut orders) = reference::generate(9, 8, 900);
    // Exact duplicates at one time: only one of them may survive.
    let copies: Vec<reference::Order> = orders.iter().step_by(11).cloned().collect();
    orders.extend(copies);
    write_inputs(dir.path(), &users, &orders);
    let targets = "FirstPurchase,HourlyFirstOrder,SessionStart";
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap(), "--targets", targets]);
    // Event time, then the row's fields in declared order (floats by total order).
    let mut sorted: Vec<&reference::Order> = orders.iter().collect();
    sorted.sort_by(|a, b| {
        (a.ts, &a.buyer, &a.product, &a.kind)
            .cmp(&(b.ts, &b.buyer, &b.product, &b.kind))
            .then(a.price.total_cmp(&b.price))
    });
    let cells = |o: &reference::Order| {
        vec![o.buyer.clone(), o.product.clone(), o.kind.clone(), o.ts.to_string(), format!("{:?}", o.price)]
    };
    let mut seen = std::collections::HashSet::new();
    let first_purchase: Vec<Vec<String>> = sorted
        .iter()
        .filter(|o| seen.insert((o.buyer.clone(), o.product.clone())))
        .map(|o| cells(o))
        .collect();
    let mut buckets = std::collections::HashSet::new();
    let hourly: Vec<Vec<String>> = sorted
        .iter()
        .filter(|o| buckets.insert((o.buyer.clone(), o.ts.div_euclid(HOUR))))
        .map(|o| cells(o))
        .collect();
    let mut last: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let session_starts: Vec<Vec<String>> = sorted
        .iter()
        .filter(|o| last.insert(o.buyer.clone(), o.ts).is_none_or(|previous| o.ts - previous >= 2 * HOUR))
        .map(|o| cells(o))
        .collect();
    for (dataset, mut expected) in
        [("FirstPurchase", first_purchase), ("HourlyFirstOrder", hourly), ("SessionStart", session_starts)]
    {
        let file = format!("{dataset}.csv");
        volga_ok(dir.path(), &["get-offline", dataset, "-o", &file]);
        let (_, mut found) = read_csv(&dir.path().join(&file));
        found.sort();
        expected.sort();
        assert!(expected.len() < orders.len(), "{dataset} drops rows");
        assert_eq!(found, expected, "{dataset}");
    }
}

#[test]
fn a_left_join_takes_the_right_version_as_of_each_row_or_nulls() {
    let wasm = guest("lambdas");
    let dir = workspace();
    let (users, orders) = reference::generate(4, 12, 900);
    write_inputs(dir.path(), &users, &orders);
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap(), "--targets", "OrderWithUser"]);
    let json = volga_ok(dir.path(), &["get-offline", "OrderWithUser", "--format", "json"]);
    let mut found: Vec<(String, i64, String, Option<String>)> = json
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["user_id"], v["buyer_id"], "the right key is copied from the left");
            (
                v["buyer_id"].as_str().unwrap().to_string(),
                v["purchased_at"].as_i64().unwrap(),
                v["product_id"].as_str().unwrap().to_string(),
                v["name"].as_str().map(str::to_string),
            )
        })
        .collect();
    // The version as of the order: latest registered_at <= ts, ties by the greater row.
    let mut expected: Vec<(String, i64, String, Option<String>)> = orders
        .iter()
        .map(|o| {
            let name = users
                .iter()
                .filter(|u| u.id == o.buyer && u.registered_at <= o.ts)
                .max_by(|a, b| (a.registered_at, &a.name).cmp(&(b.registered_at, &b.name)))
                .map(|u| u.name.clone());
            (o.buyer.clone(), o.ts, o.product.clone(), name)
        })
        .collect();
    found.sort();
    expected.sort();
    assert!(expected.iter().any(|e| e.3.is_none()) && expected.iter().any(|e| e.3.is_some()));
    assert_eq!(found, expected);
}
