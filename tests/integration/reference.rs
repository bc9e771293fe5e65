//! An independent reference of DESIGN.md's semantics for the reference example, over plain
//! sorted vectors: no dataflow, no Volga code. Sums use Python's `math.fsum` algorithm
//! (Shewchuk's exact partials, correctly rounded), so averages are `fsum(xs) / len(xs)`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write;

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;
pub const START: i64 = 1_700_000_000_000;

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub registered_at: i64,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Order {
    pub buyer: String,
    pub product: String,
    pub kind: String,
    pub ts: i64,
    pub price: f64,
}

/// `math.fsum`: the correctly rounded sum of `xs`.
pub fn fsum(xs: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for &value in xs {
        let mut x = value;
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        let yr = x - hi;
        if y == yr {
            hi = x;
        }
    }
    hi
}

/// Random users (some with several versions) and orders on a 30-minute grid, so that ties and
/// exact window edges (`ts + 1h`, `ts + 7d`) are common; some buyers are unknown and some
/// orders precede their buyer's registration.
pub fn generate(seed: u64, users: usize, orders: usize) -> (Vec<User>, Vec<Order>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let grid = 30 * 60_000;
    let mut user_rows = Vec::new();
    for i in 0..users {
        for version in 0..rng.random_range(1..=2) {
            user_rows.push(User {
                id: format!("u{i}"),
                registered_at: START + rng.random_range(-4i64..10) * DAY / 2 + rng.random_range(0..48) * grid,
                name: format!("name {i}.{version}"),
            });
        }
    }
    let prices = [0.1, 0.2, 0.3, 1e-3, 1234567.891, 3.0, 99.99];
    let order_rows = (0..orders)
        .map(|_| Order {
            buyer: format!("u{}", rng.random_range(0..users + 3)),
            product: format!("p{}", rng.random_range(0..7)),
            kind: if rng.random_bool(0.6) { "ON_SALE" } else { "REGULAR" }.to_string(),
            ts: START + rng.random_range(0..20 * 48) * grid,
            price: if rng.random_bool(0.2) {
                prices[rng.random_range(0..prices.len())]
            } else {
                rng.random_range(1..100_000) as f64 / 100.0
            },
        })
        .collect();
    (user_rows, order_rows)
}

pub fn users_csv(users: &[User]) -> String {
    let mut text = String::from("user_id,registered_at,name\n");
    for u in users {
        writeln!(text, "{},{},{}", u.id, u.registered_at, u.name).unwrap();
    }
    text
}

pub fn orders_csv(orders: &[Order]) -> String {
    let mut text = String::from("buyer_id,product_id,product_type,purchased_at,product_price\n");
    for o in orders {
        // `{:?}` prints the shortest string that parses back to the same f64.
        writeln!(text, "{},{},{},{},{:?}", o.buyer, o.product, o.kind, o.ts, o.price).unwrap();
    }
    text
}

/// The as-of inner join: orders (optionally only ON_SALE) whose buyer has a user row with
/// `registered_at <= ts`, as `(user, ts, price)`.
pub fn joined(users: &[User], orders: &[Order], on_sale_only: bool) -> Vec<(String, i64, f64)> {
    orders
        .iter()
        .filter(|o| !on_sale_only || o.kind == "ON_SALE")
        .filter(|o| users.iter().any(|u| u.id == o.buyer && u.registered_at <= o.ts))
        .map(|o| (o.buyer.clone(), o.ts, o.price))
        .collect()
}

/// Values of `user`'s joined rows with `T - width < ts <= T` (`width = None`: forever).
pub fn window(rows: &[(String, i64, f64)], user: &str, at: i64, width: Option<i64>) -> Vec<f64> {
    rows.iter()
        .filter(|(u, ts, _)| u == user && *ts <= at && width.is_none_or(|w| *ts > at - w))
        .map(|(_, _, price)| *price)
        .collect()
}

/// Values of `user`'s joined rows in the last closed hop at `at`: hops are
/// `[k*stride, k*stride + width)`, the last closed one has the greatest `k` with
/// `k*stride + width <= at`. A tumbling window is a hop with `stride = width`.
pub fn last_hop(rows: &[(String, i64, f64)], user: &str, at: i64, width: i64, stride: i64) -> Vec<f64> {
    let k = (at - width).div_euclid(stride);
    let (start, end) = (k * stride, k * stride + width);
    rows.iter().filter(|(u, ts, _)| u == user && start <= *ts && *ts < end).map(|(_, _, p)| *p).collect()
}

/// The first time a row at `ts` is in a closed hop: the earliest end of a hop containing it.
pub fn first_closed_hop(ts: i64, width: i64, stride: i64) -> Option<i64> {
    let around = ts.div_euclid(stride);
    (around - width / stride - 2..=around + 1)
        .filter(|k| k * stride <= ts && ts < k * stride + width)
        .map(|k| k * stride + width)
        .min()
}

/// `user`'s sessions (runs of rows less than `gap` apart), each as (close time, values).
pub fn sessions(rows: &[(String, i64, f64)], user: &str, gap: i64) -> Vec<(i64, Vec<f64>)> {
    let mut mine: Vec<(i64, f64)> =
        rows.iter().filter(|(u, ..)| u == user).map(|(_, t, p)| (*t, *p)).collect();
    mine.sort_by_key(|(t, _)| *t);
    let mut out: Vec<(i64, Vec<f64>)> = Vec::new();
    let mut last: Option<i64> = None;
    for (t, p) in mine {
        match out.last_mut() {
            Some((close, values)) if last.is_some_and(|l| t - l < gap) => {
                values.push(p);
                *close = t + gap;
            }
            _ => out.push((t + gap, vec![p])),
        }
        last = Some(t);
    }
    out
}

/// Values of `user`'s last session closed at or before `at` (empty if none).
pub fn last_session(rows: &[(String, i64, f64)], user: &str, at: i64, gap: i64) -> Vec<f64> {
    sessions(rows, user, gap).into_iter().rfind(|(close, _)| *close <= at).map(|(_, v)| v).unwrap_or_default()
}

pub fn avg(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| fsum(xs) / xs.len() as f64)
}

/// Whether `user` has any joined row as of `at` (else the dataset has no row for it).
pub fn has_row(rows: &[(String, i64, f64)], user: &str, at: i64) -> bool {
    rows.iter().any(|(u, ts, _)| u == user && *ts <= at)
}

/// Spine times that hit window edges: each order time, one ms before, and `+1h`, `+1d`, `+7d`
/// with one ms either side, plus times before any data.
pub fn spine_times(orders: &[Order], rng: &mut StdRng, count: usize) -> Vec<i64> {
    let mut times = vec![START - DAY, START + 30 * DAY];
    for _ in 0..count {
        let base = orders[rng.random_range(0..orders.len())].ts;
        let offset =
            [0, -1, HOUR, HOUR - 1, HOUR + 1, DAY, DAY - 1, 2 * HOUR, 7 * DAY, 7 * DAY - 1, 7 * DAY + 1]
                [rng.random_range(0..11)];
        times.push(base + offset);
    }
    times
}

#[test]
fn fsum_matches_python() {
    // Values from CPython's test_math.testFsum.
    assert_eq!(fsum(&[0.1; 10]), 1.0);
    assert_eq!(fsum(&[1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50]), 1e-100);
    assert_eq!(fsum(&[2.0f64.powi(53), -0.5, -2.0f64.powi(-54)]), 2.0f64.powi(53) - 1.0);
    assert_eq!(fsum(&[0.1, 0.2, 0.3]), 0.6);
}
