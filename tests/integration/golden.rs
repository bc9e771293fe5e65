//! Golden cases: one folder per case under `tests/golden/`, each with the pipeline source
//! (`pipeline.rs`, compiled into the `golden` test guest), its input rows (`data/*.csv`) and
//! the expected history of each dataset it declares (`expected/<Dataset>.csv`).
//!
//! The expected histories are computed here by a plain reference over sorted vectors (no
//! dataflow, no Volga code): the test checks that the files agree with the reference, then
//! that `volga materialize-offline` + `volga get-offline` write exactly those rows.
//! `VOLGA_BLESS=1` rewrites the files from the reference (never from Volga's output).
//!
//! Aggregates are evaluated at every millisecond of the case's time range, so a history is the
//! list of every change of each key's values (inputs use small millisecond times).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::reference::fsum;
use crate::support::{guest, read_csv, repo_root, volga_ok};

#[derive(Clone, Debug, PartialEq)]
struct Event {
    user: String,
    ts: i64,
    item: String,
    region: String,
    amount: Option<f64>,
    qty: i64,
}

impl Event {
    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::str(&self.user),
            Cell::Int(self.ts),
            Cell::str(&self.item),
            Cell::str(&self.region),
            Cell::opt_float(self.amount),
            Cell::Int(self.qty),
        ]
    }

    /// Volga's total order of rows (values compared field by field, null first).
    fn order(&self, other: &Event) -> Ordering {
        (&self.user, self.ts, &self.item, &self.region)
            .cmp(&(&other.user, other.ts, &other.item, &other.region))
            .then_with(|| match (self.amount, other.amount) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => a.total_cmp(&b),
            })
            .then_with(|| self.qty.cmp(&other.qty))
    }
}

#[derive(Clone, Debug)]
struct Profile {
    user: String,
    ts: i64,
    city: Option<String>,
    tier: i64,
}

#[derive(Clone, Debug)]
struct Price {
    item: String,
    region: String,
    ts: i64,
    price: f64,
}

#[derive(Clone, Debug)]
struct Basket {
    user: String,
    ts: i64,
    items: Vec<String>,
}

/// A case's input rows; a source without a file is empty.
struct Inputs {
    events: Vec<Event>,
    profiles: Vec<Profile>,
    prices: Vec<Price>,
    baskets: Vec<Basket>,
}

fn load(data: &Path) -> Inputs {
    let rows = |name: &str| -> Vec<Vec<String>> {
        let path = data.join(format!("{name}.csv"));
        if path.exists() { read_csv(&path).1 } else { Vec::new() }
    };
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    Inputs {
        events: rows("events")
            .iter()
            .map(|r| Event {
                user: r[0].clone(),
                ts: r[1].parse().unwrap(),
                item: r[2].clone(),
                region: r[3].clone(),
                amount: opt(&r[4]).map(|a| a.parse().unwrap()),
                qty: r[5].parse().unwrap(),
            })
            .collect(),
        profiles: rows("profiles")
            .iter()
            .map(|r| Profile {
                user: r[0].clone(),
                ts: r[1].parse().unwrap(),
                city: opt(&r[2]),
                tier: r[3].parse().unwrap(),
            })
            .collect(),
        prices: rows("prices")
            .iter()
            .map(|r| Price {
                item: r[0].clone(),
                region: r[1].clone(),
                ts: r[2].parse().unwrap(),
                price: r[3].parse().unwrap(),
            })
            .collect(),
        baskets: rows("baskets")
            .iter()
            .map(|r| Basket {
                user: r[0].clone(),
                ts: r[1].parse().unwrap(),
                items: serde_json::from_str(&r[2]).unwrap(),
            })
            .collect(),
    }
}

/// One output value, written as Volga writes CSV cells.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    List(Vec<Cell>),
}

impl Cell {
    fn str(s: &str) -> Cell {
        Cell::Str(s.to_string())
    }

    fn opt_float(v: Option<f64>) -> Cell {
        v.map_or(Cell::Null, Cell::Float)
    }

    fn opt_str(v: &Option<String>) -> Cell {
        v.as_ref().map_or(Cell::Null, |s| Cell::str(s))
    }

    fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) => ryu::Buffer::new().format(*v).to_string(),
            Cell::Str(s) => s.clone(),
            Cell::Bool(b) => b.to_string(),
            Cell::List(items) => serde_json::Value::Array(items.iter().map(Cell::json).collect()).to_string(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Int(v) => (*v).into(),
            Cell::Float(v) => serde_json::Number::from_f64(*v).expect("finite").into(),
            Cell::Str(s) => s.clone().into(),
            Cell::Bool(b) => (*b).into(),
            Cell::Null | Cell::List(_) => unreachable!("list items are non-null scalars"),
        }
    }
}

/// A dataset's expected history.
struct Output {
    dataset: &'static str,
    header: &'static [&'static str],
    rows: Vec<Vec<Cell>>,
}

impl Output {
    fn new(dataset: &'static str, header: &'static [&'static str], rows: Vec<Vec<Cell>>) -> Output {
        Output { dataset, header, rows }
    }
}

/// Rows in a fixed order: by the `ts` column as a number, then by the cells' text.
fn canonical(header: &[String], mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let ts = header.iter().position(|h| h == "ts").expect("every golden dataset has `ts`");
    rows.sort_by(|a, b| {
        a[ts].parse::<i64>().unwrap().cmp(&b[ts].parse::<i64>().unwrap()).then_with(|| a.cmp(b))
    });
    rows
}

fn csv_text(header: &[String], rows: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

// ---- windows and aggregates -------------------------------------------------------------

#[derive(Clone, Copy)]
enum Win {
    Sliding(i64),
    Forever,
    Tumbling(i64),
    Hopping(i64, i64),
    Session(i64),
}

/// The times (sorted) of one key's rows that the window covers at `t`.
fn covered(times: &[i64], window: Win, t: i64) -> Vec<usize> {
    let pick = |lo: i64, hi: i64| (0..times.len()).filter(|&i| lo <= times[i] && times[i] < hi).collect();
    match window {
        Win::Sliding(w) => pick(t - w + 1, t + 1),
        Win::Forever => pick(i64::MIN, t + 1),
        Win::Tumbling(d) => {
            let n = t.div_euclid(d) - 1;
            pick(n * d, n * d + d)
        }
        Win::Hopping(w, s) => {
            let k = (t - w).div_euclid(s);
            pick(k * s, k * s + w)
        }
        Win::Session(gap) => {
            // Sessions: runs of rows less than `gap` apart; the last one closed by `t`.
            let mut sessions: Vec<Vec<usize>> = Vec::new();
            for i in 0..times.len() {
                match sessions.last_mut() {
                    Some(s) if times[i] - times[*s.last().unwrap()] < gap => s.push(i),
                    _ => sessions.push(vec![i]),
                }
            }
            sessions.into_iter().rev().find(|s| times[*s.last().unwrap()] + gap <= t).unwrap_or_default()
        }
    }
}

/// An aggregate of the rows its window covers; the time is when those rows last changed (for
/// ExpDecaySum, evaluated then).
type AggFn<R> = Box<dyn Fn(&[&R], i64) -> Cell>;

/// The history of `group_by(key).aggregate(aggs)`: each key's row `[key, t, values...]` at
/// every `t` where the values differ from those at `t - 1`, from the first time one of the
/// key's rows counts in one of the windows.
fn aggregate<R>(
    rows: &[R],
    key: impl Fn(&R) -> String,
    time: impl Fn(&R) -> i64,
    aggs: Vec<(Win, AggFn<R>)>,
) -> Vec<Vec<Cell>> {
    let aggs = aggs.into_iter().map(|(window, f)| (window, f, None)).collect();
    aggregate_reading(rows, key, time, aggs)
}

/// Which rows an aggregate reads (those with a non-null value).
type Reads<R> = fn(&R) -> bool;

/// Like [`aggregate`], where an aggregate may name the rows whose entering or leaving its
/// window is a change for it (the rows with a non-null value); all rows when `None`.
fn aggregate_reading<R>(
    rows: &[R],
    key: impl Fn(&R) -> String,
    time: impl Fn(&R) -> i64,
    aggs: Vec<(Win, AggFn<R>, Option<Reads<R>>)>,
) -> Vec<Vec<Cell>> {
    let mut keys: Vec<String> = rows.iter().map(&key).collect();
    keys.sort();
    keys.dedup();
    let end = rows.iter().map(&time).max().unwrap_or(0) + 100;
    let mut out = Vec::new();
    for k in keys {
        let mut mine: Vec<&R> = rows.iter().filter(|r| key(r) == k).collect();
        mine.sort_by_key(|r| time(r));
        let times: Vec<i64> = mine.iter().map(|r| time(r)).collect();
        let mut last: Option<Vec<Cell>> = None;
        let mut counted = false;
        let mut previous: Vec<(Vec<usize>, i64)> = vec![(Vec::new(), times[0]); aggs.len()];
        for t in times[0]..=end {
            let mut values = Vec::new();
            for ((window, f, reads), (covered_before, changed_at)) in aggs.iter().zip(&mut previous) {
                let now = covered(&times, *window, t);
                let relevant: Vec<usize> =
                    now.iter().copied().filter(|&i| reads.is_none_or(|r| r(mine[i]))).collect();
                if relevant != *covered_before {
                    *changed_at = t;
                    *covered_before = relevant;
                }
                let rows: Vec<&R> = now.into_iter().map(|i| mine[i]).collect();
                counted |= !rows.is_empty();
                values.push(f(&rows, *changed_at));
            }
            if counted && last.as_ref() != Some(&values) {
                let mut row = vec![Cell::Str(k.clone()), Cell::Int(t)];
                row.extend(values.iter().cloned());
                out.push(row);
                last = Some(values);
            }
        }
    }
    out
}

fn rows_count<R>() -> AggFn<R> {
    Box::new(|rows, _| Cell::Int(rows.len() as i64))
}

/// `k` values from the end (`last`) or the start of the rows ordered by time, then value.
fn k_values<R, V: Clone>(
    rows: &[&R],
    k: usize,
    last: bool,
    time: impl Fn(&R) -> i64,
    value: impl Fn(&R) -> Option<V>,
    cmp: impl Fn(&V, &V) -> Ordering,
) -> Vec<V> {
    let mut pairs: Vec<(i64, V)> = rows.iter().filter_map(|r| Some((time(r), value(r)?))).collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| cmp(&a.1, &b.1)));
    if last {
        pairs.reverse();
    }
    pairs.into_iter().take(k).map(|(_, v)| v).collect()
}

fn amounts(rows: &[&Event]) -> Vec<f64> {
    rows.iter().filter_map(|e| e.amount).collect()
}

fn sum_amount() -> AggFn<Event> {
    Box::new(|rows, _| Cell::Float(fsum(&amounts(rows))))
}

fn avg_amount() -> AggFn<Event> {
    Box::new(|rows, _| {
        let xs = amounts(rows);
        if xs.is_empty() { Cell::Null } else { Cell::Float(fsum(&xs) / xs.len() as f64) }
    })
}

fn extreme_amount(max: bool) -> AggFn<Event> {
    Box::new(move |rows, _| {
        let xs = amounts(rows);
        let pick = if max {
            xs.iter().copied().max_by(f64::total_cmp)
        } else {
            xs.iter().copied().min_by(f64::total_cmp)
        };
        Cell::opt_float(pick)
    })
}

fn max_qty() -> AggFn<Event> {
    Box::new(|rows, _| rows.iter().map(|e| e.qty).max().map_or(Cell::Null, Cell::Int))
}

fn sum_qty() -> AggFn<Event> {
    Box::new(|rows, _| Cell::Int(rows.iter().map(|e| e.qty).sum()))
}

/// Nearest rank: the value at 1-based rank `max(1, ceil(p * n))`.
fn nearest_rank<T: Copy>(mut xs: Vec<T>, p: f64, cmp: impl Fn(&T, &T) -> Ordering) -> Option<T> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(cmp);
    let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    Some(xs[rank - 1])
}

// ---- the cases ------------------------------------------------------------------------------

fn recent_values(i: &Inputs) -> Vec<Output> {
    let last_qty: AggFn<Event> = Box::new(|rows, _| {
        Cell::List(
            k_values(rows, 3, true, |e| e.ts, |e| Some(e.qty), i64::cmp).into_iter().map(Cell::Int).collect(),
        )
    });
    let first_items: AggFn<Event> = Box::new(|rows, _| {
        let items = k_values(rows, 2, false, |e| e.ts, |e| Some(e.item.clone()), String::cmp);
        Cell::List(items.into_iter().map(Cell::Str).collect())
    });
    let last_amounts: AggFn<Event> = Box::new(|rows, _| {
        let amounts = k_values(rows, 2, true, |e| e.ts, |e| e.amount, f64::total_cmp);
        Cell::List(amounts.into_iter().map(Cell::Float).collect())
    });
    // Each term x * 2^(-(T - ts) / 10), summed exactly, at the last time an amount entered or
    // left the window.
    let decayed: AggFn<Event> = Box::new(|rows, at| {
        let terms: Vec<f64> =
            rows.iter().filter_map(|e| Some(e.amount? * (-((at - e.ts) as f64) / 10.0).exp2())).collect();
        Cell::Float(fsum(&terms))
    });
    let last_items: AggFn<Event> = Box::new(|rows, _| {
        let items = k_values(rows, 2, true, |e| e.ts, |e| Some(e.item.clone()), String::cmp);
        Cell::List(items.into_iter().map(Cell::Str).collect())
    });
    let has_amount: fn(&Event) -> bool = |e| e.amount.is_some();
    let rows = aggregate_reading(
        &i.events,
        |e| e.user.clone(),
        |e| e.ts,
        vec![
            (Win::Sliding(20), last_qty, None),
            (Win::Forever, first_items, None),
            (Win::Tumbling(10), last_amounts, None),
            (Win::Sliding(30), decayed, Some(has_amount)),
            (Win::Forever, last_items, None),
        ],
    );
    let header = &[
        "user",
        "ts",
        "last_qty_20ms",
        "first_items",
        "last_amounts_10ms_bucket",
        "decayed_amount_30ms",
        "last_items",
    ];
    vec![Output::new("RecentValues", header, rows)]
}

fn lists(i: &Inputs) -> Vec<Output> {
    let explode = |user: &str, ts: i64, items: Vec<Cell>| -> Vec<Vec<Cell>> {
        let items = if items.is_empty() { vec![Cell::Null] } else { items };
        items.into_iter().map(|item| vec![Cell::str(user), Cell::Int(ts), item]).collect()
    };
    let baskets = i
        .baskets
        .iter()
        .filter(|b| b.items.len() < 4)
        .flat_map(|b| explode(&b.user, b.ts, b.items.iter().map(|s| Cell::str(s)).collect()))
        .collect();
    let parts = i
        .events
        .iter()
        .flat_map(|e| {
            let parts = match e.amount {
                Some(_) => (1..=e.qty.min(3)).map(|p| Cell::Int(p * 10)).collect(),
                None => Vec::new(),
            };
            explode(&e.user, e.ts, parts)
        })
        .collect();
    vec![
        Output::new("BasketItem", &["user", "ts", "items"], baskets),
        Output::new("EventPart", &["user", "ts", "parts"], parts),
    ]
}

const EVENT: &[&str] = &["user", "ts", "item", "region", "amount", "qty"];

fn sliding_edges(i: &Inputs) -> Vec<Output> {
    let count_amounts: AggFn<Event> = Box::new(|rows, _| Cell::Int(amounts(rows).len() as i64));
    let rows = aggregate(
        &i.events,
        |e| e.user.clone(),
        |e| e.ts,
        vec![
            (Win::Sliding(10), rows_count()),
            (Win::Sliding(10), count_amounts),
            (Win::Sliding(10), sum_amount()),
            (Win::Sliding(10), avg_amount()),
            (Win::Sliding(5), max_qty()),
        ],
    );
    let header = &["user", "ts", "rows_10ms", "amounts_10ms", "sum_10ms", "avg_10ms", "max_qty_5ms"];
    vec![Output::new("SlidingEdges", header, rows)]
}

fn forever_aggregates(i: &Inputs) -> Vec<Output> {
    let f = Win::Forever;
    let rows = aggregate(
        &i.events,
        |e| e.user.clone(),
        |e| e.ts,
        vec![
            (f, rows_count()),
            (f, sum_qty()),
            (f, sum_amount()),
            (f, avg_amount()),
            (f, extreme_amount(false)),
            (f, extreme_amount(true)),
        ],
    );
    vec![Output::new(
        "ForeverAggregates",
        &["user", "ts", "rows", "qty", "total", "mean", "least", "most"],
        rows,
    )]
}

fn tumbling_buckets(i: &Inputs) -> Vec<Output> {
    let rows = aggregate(
        &i.events,
        |e| e.user.clone(),
        |e| e.ts,
        vec![
            (Win::Tumbling(10), rows_count()),
            (Win::Tumbling(10), sum_amount()),
            (Win::Tumbling(20), avg_amount()),
        ],
    );
    vec![Output::new("TumblingBuckets", &["user", "ts", "rows_10ms", "sum_10ms", "avg_20ms"], rows)]
}

fn hopping_hops(i: &Inputs) -> Vec<Output> {
    let rows = aggregate(
        &i.events,
        |e| e.user.clone(),
        |e| e.ts,
        vec![
            (Win::Hopping(10, 5), rows_count()),
            (Win::Hopping(4, 10), sum_qty()),
            (Win::Hopping(20, 10), extreme_amount(true)),
        ],
    );
    let header = &["user", "ts", "rows_10ms_every_5ms", "qty_4ms_every_10ms", "max_20ms_every_10ms"];
    vec![Output::new("HoppingHops", header, rows)]
}

fn session_gaps(i: &Inputs) -> Vec<Output> {
    let rows = aggregate(
        &i.events,
        |e| e.user.clone(),
        |e| e.ts,
        vec![(Win::Session(5), rows_count()), (Win::Session(5), sum_amount()), (Win::Session(10), max_qty())],
    );
    vec![Output::new("SessionGaps", &["user", "ts", "rows_5ms", "sum_5ms", "max_qty_10ms"], rows)]
}

fn spread_aggregates(i: &Inputs) -> Vec<Output> {
    let stddev: AggFn<Event> = Box::new(|rows, _| {
        let xs = amounts(rows);
        if xs.is_empty() {
            return Cell::Null;
        }
        let n = xs.len() as f64;
        let mean = fsum(&xs) / n;
        let squares: Vec<f64> = xs.iter().map(|x| (x - mean) * (x - mean)).collect();
        Cell::Float((fsum(&squares) / n).sqrt())
    });
    let distinct: AggFn<Event> = Box::new(|rows, _| {
        let mut items: Vec<&str> = rows.iter().map(|e| e.item.as_str()).collect();
        items.sort();
        items.dedup();
        Cell::Int(items.len() as i64)
    });
    let quantile = |p: f64| -> AggFn<Event> {
        Box::new(move |rows, _| Cell::opt_float(nearest_rank(amounts(rows), p, f64::total_cmp)))
    };
    let p90_qty: AggFn<Event> = Box::new(|rows, _| {
        let qty = rows.iter().map(|e| e.qty).collect();
        nearest_rank(qty, 0.9, i64::cmp).map_or(Cell::Null, Cell::Int)
    });
    let rows = aggregate(
        &i.events,
        |e| e.user.clone(),
        |e| e.ts,
        vec![
            (Win::Sliding(20), stddev),
            (Win::Forever, distinct),
            (Win::Sliding(20), quantile(0.5)),
            (Win::Tumbling(20), p90_qty),
            (Win::Forever, quantile(0.0)),
        ],
    );
    let header = &[
        "user",
        "ts",
        "stddev_20ms",
        "items_forever",
        "median_20ms",
        "p90_qty_20ms_bucket",
        "min_by_quantile",
    ];
    vec![Output::new("SpreadAggregates", header, rows)]
}

fn filter_assign(i: &Inputs) -> Vec<Output> {
    let rows = i
        .events
        .iter()
        .filter(|e| e.qty >= 2 || e.amount.is_none())
        .map(|e| {
            let mut cells = e.cells();
            cells[2] = Cell::Str(e.item.to_uppercase());
            cells.push(Cell::opt_float(e.amount.map(|a| a * e.qty as f64)));
            cells
        })
        .collect();
    let header = &["user", "ts", "item", "region", "amount", "qty", "total"];
    vec![Output::new("AssignedEvent", header, rows)]
}

fn transform(i: &Inputs) -> Vec<Output> {
    let mut rows = Vec::new();
    for e in &i.events {
        let units = if e.amount.is_some() { e.qty.min(3) } else { 0 };
        for unit in 1..=units {
            rows.push(vec![Cell::str(&e.user), Cell::Int(e.ts), Cell::str(&e.item), Cell::Int(unit)]);
        }
    }
    vec![Output::new("Unit", &["user", "ts", "item", "unit"], rows)]
}

/// The profile of `user` as of `t`: its latest row with `ts <= t`.
fn profile_as_of<'a>(profiles: &'a [Profile], user: &str, t: i64) -> Option<&'a Profile> {
    profiles.iter().filter(|p| p.user == user && p.ts <= t).max_by_key(|p| p.ts)
}

fn with_profile(e: &Event, p: Option<&Profile>) -> Vec<Cell> {
    vec![
        Cell::str(&e.user),
        Cell::Int(e.ts),
        Cell::str(&e.item),
        p.map_or(Cell::Null, |p| Cell::opt_str(&p.city)),
        p.map_or(Cell::Null, |p| Cell::Int(p.tier)),
    ]
}

const WITH_PROFILE: &[&str] = &["user", "ts", "item", "city", "tier"];

fn join_modes(i: &Inputs) -> Vec<Output> {
    let left = i.events.iter().map(|e| with_profile(e, profile_as_of(&i.profiles, &e.user, e.ts))).collect();
    let inner = i
        .events
        .iter()
        .filter_map(|e| profile_as_of(&i.profiles, &e.user, e.ts).map(|p| with_profile(e, Some(p))))
        .collect();
    vec![
        Output::new("EventWithProfile", WITH_PROFILE, left),
        Output::new("EventOfKnownUser", WITH_PROFILE, inner),
    ]
}

fn join_within(i: &Inputs) -> Vec<Output> {
    // At most 5 ms old (left join); as of 3 ms after the event (inner join).
    let fresh = i
        .events
        .iter()
        .map(|e| with_profile(e, profile_as_of(&i.profiles, &e.user, e.ts).filter(|p| p.ts >= e.ts - 5)))
        .collect();
    let ahead = i
        .events
        .iter()
        .filter_map(|e| profile_as_of(&i.profiles, &e.user, e.ts + 3).map(|p| with_profile(e, Some(p))))
        .collect();
    vec![
        Output::new("FreshProfile", WITH_PROFILE, fresh),
        Output::new("LookaheadProfile", WITH_PROFILE, ahead),
    ]
}

fn price_as_of<'a>(prices: &'a [Price], item: &str, region: &str, t: i64) -> Option<&'a Price> {
    prices.iter().filter(|p| p.item == item && p.region == region && p.ts <= t).max_by_key(|p| p.ts)
}

fn join_multi_key(i: &Inputs) -> Vec<Output> {
    let rows = i
        .events
        .iter()
        .map(|e| {
            let price = price_as_of(&i.prices, &e.item, &e.region, e.ts);
            vec![
                Cell::str(&e.user),
                Cell::Int(e.ts),
                Cell::str(&e.item),
                Cell::str(&e.region),
                Cell::Int(e.qty),
                Cell::str(&e.item),
                Cell::str(&e.region),
                Cell::opt_float(price.map(|p| p.price)),
            ]
        })
        .collect();
    let header = &["user", "ts", "product", "market", "qty", "item", "region", "price"];
    vec![Output::new("PricedEvent", header, rows)]
}

fn several_joins(i: &Inputs) -> Vec<Output> {
    // (city, ts, price) of events with a profile, a city and a price as of the event.
    let joined: Vec<(String, i64, f64)> = i
        .events
        .iter()
        .filter_map(|e| {
            let city = profile_as_of(&i.profiles, &e.user, e.ts)?.city.clone()?;
            let price = price_as_of(&i.prices, &e.item, &e.region, e.ts)?.price;
            Some((city, e.ts, price))
        })
        .collect();
    let spent: AggFn<(String, i64, f64)> =
        Box::new(|rows, _| Cell::Float(fsum(&rows.iter().map(|r| r.2).collect::<Vec<_>>())));
    let rows = aggregate(
        &joined,
        |r| r.0.clone(),
        |r| r.1,
        vec![(Win::Forever, spent), (Win::Sliding(10), rows_count())],
    );
    vec![Output::new("SpendByCity", &["city", "ts", "spent_forever", "events_10ms"], rows)]
}

fn project_dropnull(i: &Inputs) -> Vec<Output> {
    let rows = i
        .events
        .iter()
        .filter_map(|e| Some(vec![Cell::Int(e.ts), Cell::str(&e.user), Cell::Float(e.amount?)]))
        .collect();
    vec![Output::new("Spend", &["ts", "buyer", "spent"], rows)]
}

fn union(i: &Inputs) -> Vec<Output> {
    let eu = i.events.iter().filter(|e| e.region == "eu");
    let bulk = i.events.iter().filter(|e| e.qty >= 2);
    vec![Output::new("EuOrBulk", EVENT, eu.chain(bulk).map(Event::cells).collect())]
}

/// Events sorted by time, then by Volga's row order.
fn in_order(events: &[Event]) -> Vec<&Event> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.order(b)));
    sorted
}

fn dedup(i: &Inputs) -> Vec<Output> {
    let sorted = in_order(&i.events);
    let first_per = |key: &dyn Fn(&Event) -> String| {
        let mut seen: Vec<String> = Vec::new();
        let mut rows = Vec::new();
        for e in &sorted {
            let k = key(e);
            if !seen.contains(&k) {
                seen.push(k);
                rows.push(e.cells());
            }
        }
        rows
    };
    let forever = first_per(&|e| format!("{}/{}", e.user, e.item));
    let bucket = first_per(&|e| format!("{}/{}", e.user, e.ts.div_euclid(10)));
    // A row 5 ms or more after the user's previous row opens a session.
    let mut session = Vec::new();
    for (n, e) in sorted.iter().enumerate() {
        let previous = sorted[..n].iter().filter(|p| p.user == e.user).map(|p| p.ts).max();
        // A later row of the same time joins whatever that time's first row joined.
        if previous.is_none_or(|p| e.ts - p >= 5) {
            session.push(e.cells());
        }
    }
    vec![
        Output::new("FirstItem", EVENT, forever),
        Output::new("FirstIn10ms", EVENT, bucket),
        Output::new("SessionOpener", EVENT, session),
    ]
}

fn first_latest(i: &Inputs) -> Vec<Output> {
    let sorted = in_order(&i.events);
    let mut first = Vec::new();
    let mut users: Vec<&str> = Vec::new();
    for e in &sorted {
        if !users.contains(&e.user.as_str()) {
            users.push(&e.user);
            first.push(e.cells());
        }
    }
    // The latest row changes at every time a user has rows: to the greatest row of that time.
    let mut latest = Vec::new();
    for (n, e) in sorted.iter().enumerate() {
        let last_of_time = sorted[n + 1..].iter().all(|later| later.user != e.user || later.ts != e.ts);
        if last_of_time {
            latest.push(e.cells());
        }
    }
    vec![Output::new("FirstEvent", EVENT, first), Output::new("LatestEvent", EVENT, latest)]
}

fn changelog(i: &Inputs) -> Vec<Output> {
    let counts = aggregate(&i.events, |e| e.region.clone(), |e| e.ts, vec![(Win::Sliding(10), rows_count())]);
    let mut changes = Vec::new();
    for (n, row) in counts.iter().enumerate() {
        if let Some(previous) = counts[..n].iter().rev().find(|r| r[0] == row[0]) {
            changes.push(vec![previous[0].clone(), row[1].clone(), previous[2].clone(), Cell::Bool(true)]);
        }
        let mut inserted = row.clone();
        inserted.push(Cell::Bool(false));
        changes.push(inserted);
    }
    vec![
        Output::new("RegionRows", &["region", "ts", "rows_10ms"], counts),
        Output::new("RegionRowChanges", &["region", "ts", "rows_10ms", "deleted"], changes),
    ]
}

/// The disorder of the `late_rows` case's source.
const LATE_DISORDER: i64 = 5;

/// Online only: events arrive in file order; a row more than the disorder behind the newest
/// time seen before it is late and dropped.
fn late_rows(i: &Inputs) -> Vec<Output> {
    let mut newest = i64::MIN;
    let mut on_time = Vec::new();
    for e in &i.events {
        if e.ts >= newest.saturating_sub(LATE_DISORDER) {
            on_time.push(e.clone());
        }
        newest = newest.max(e.ts);
    }
    let events =
        on_time.iter().map(|e| vec![Cell::str(&e.user), Cell::Int(e.ts), Cell::Int(e.qty)]).collect();
    let totals = aggregate(
        &on_time,
        |e| e.user.clone(),
        |e| e.ts,
        vec![(Win::Forever, rows_count()), (Win::Sliding(10), sum_amount())],
    );
    vec![
        Output::new("OnTimeEvent", &["user", "ts", "qty"], events),
        Output::new("OnTimeTotals", &["user", "ts", "rows", "sum_10ms"], totals),
    ]
}

type Reference = fn(&Inputs) -> Vec<Output>;

const CASES: &[(&str, Reference)] = &[
    ("sliding_edges", sliding_edges),
    ("forever_aggregates", forever_aggregates),
    ("tumbling_buckets", tumbling_buckets),
    ("hopping_hops", hopping_hops),
    ("session_gaps", session_gaps),
    ("spread_aggregates", spread_aggregates),
    ("filter_assign", filter_assign),
    ("transform", transform),
    ("join_modes", join_modes),
    ("join_within", join_within),
    ("join_multi_key", join_multi_key),
    ("several_joins", several_joins),
    ("project_dropnull", project_dropnull),
    ("union", union),
    ("dedup", dedup),
    ("first_latest", first_latest),
    ("changelog", changelog),
    ("recent_values", recent_values),
    ("lists", lists),
];

/// Cases run online only, with their source's disorder (rows pushed in file order).
const LATE_CASES: &[(&str, Reference, i64)] = &[("late_rows", late_rows, LATE_DISORDER)];

fn golden_dir() -> PathBuf {
    repo_root().join("tests/golden")
}

#[test]
fn every_golden_folder_has_a_reference() {
    let mut folders: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("pipeline.rs").exists())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    folders.sort();
    let mut known: Vec<String> = CASES
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(LATE_CASES.iter().map(|(name, ..)| name.to_string()))
        .collect();
    known.sort();
    assert_eq!(folders, known, "tests/golden folders and the references in golden.rs differ");
}

/// Checks (or with `bless`, writes) a case's expected files against the reference's outputs.
fn check_expected_files(case: &str, outputs: &[Output], bless: bool) -> Vec<String> {
    let mut failures = Vec::new();
    for output in outputs {
        let header: Vec<String> = output.header.iter().map(|h| h.to_string()).collect();
        let rows = output.rows.iter().map(|r| r.iter().map(Cell::text).collect()).collect();
        let text = csv_text(&header, &canonical(&header, rows));
        let file = golden_dir().join(case).join("expected").join(format!("{}.csv", output.dataset));
        if bless {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &text).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            failures.push(format!(
                "{case}: {} differs from the reference (VOLGA_BLESS=1 rewrites it)",
                file.display()
            ));
        }
    }
    failures
}

/// Runs `volga materialize-offline` with `wasm` on a case's data and compares each dataset's
/// history (`volga get-offline`) with the expected files.
fn offline_failures(case: &str, wasm: &Path, outputs: &[Output]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("data");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(golden_dir().join(case).join("data")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    std::fs::write(dir.path().join("volga.toml"), GOLDEN_CONFIG).unwrap();
    let targets: Vec<&str> = outputs.iter().map(|o| o.dataset).collect();
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap(), "--targets", &targets.join(",")]);
    let language = wasm.file_stem().unwrap().to_string_lossy().to_string();
    outputs
        .iter()
        .filter_map(|output| {
            let csv = volga_ok(dir.path(), &["get-offline", output.dataset]);
            compare_history(case, output.dataset, &csv, &format!("offline ({language})"))
        })
        .collect()
}

/// The golden cases run with the same pipelines written in another language (`guest`).
fn golden_in(guest_name: &str) {
    let wasm = guest(guest_name);
    let mut failures = Vec::new();
    for (case, reference) in CASES {
        let outputs = reference(&load(&golden_dir().join(case).join("data")));
        failures.extend(offline_failures(case, &wasm, &outputs));
    }
    println!("golden in {guest_name}: {} cases", CASES.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_histories_are_identical_in_python() {
    golden_in("golden_python");
}

#[test]
fn golden_histories_are_identical_in_javascript() {
    golden_in("golden_js");
}

/// A CSV history as served or written, in canonical order; compared with the expected file.
fn compare_history(case: &str, dataset: &str, csv: &str, how: &str) -> Option<String> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    let got = csv_text(&header, &canonical(&header, rows));
    let file = golden_dir().join(case).join("expected").join(format!("{dataset}.csv"));
    let expected = std::fs::read_to_string(&file).unwrap_or_default();
    (got != expected).then(|| {
        format!(
            "{case}: {dataset} {how} differs from {}:\n--- expected\n{expected}--- volga\n{got}",
            file.display()
        )
    })
}

#[test]
fn golden_histories_match_the_reference_and_volga() {
    let wasm = guest("golden");
    let mut failures = Vec::new();
    let mut compared = 0;
    for (case, reference) in CASES {
        let outputs = reference(&load(&golden_dir().join(case).join("data")));
        // The expected files are the reference's output; Volga's histories equal them.
        failures.extend(check_expected_files(case, &outputs, blessing()));
        failures.extend(offline_failures(case, &wasm, &outputs));
        compared += outputs.iter().map(|o| o.rows.len()).sum::<usize>();
    }
    for (case, reference, _) in LATE_CASES {
        failures.extend(check_expected_files(
            case,
            &reference(&load(&golden_dir().join(case).join("data"))),
            blessing(),
        ));
    }
    println!("golden: {} cases, {compared} rows compared", CASES.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- random inputs: one property per window kind ---------------------------------------------

/// Random events over a short time range (many ties, rows exactly a window apart), amounts
/// that are null, tiny or huge (exact sums), small quantities.
fn random_events(rng: &mut StdRng, count: usize) -> Vec<Event> {
    let amounts = [0.1, 0.2, 0.3, 1e16, -1e16, 2.5, -0.7];
    (0..count)
        .map(|_| Event {
            user: ["a", "b", "c", "d"][rng.random_range(0..4)].to_string(),
            ts: rng.random_range(0..120),
            item: ["apple", "pear", "fig"][rng.random_range(0..3)].to_string(),
            region: ["eu", "us"][rng.random_range(0..2)].to_string(),
            amount: match rng.random_range(0..10) {
                0 | 1 => None,
                2..=5 => Some(amounts[rng.random_range(0..amounts.len())]),
                _ => Some(rng.random_range(-50..50) as f64 * 0.1),
            },
            qty: rng.random_range(1..6),
        })
        .collect()
}

fn events_csv(events: &[Event]) -> String {
    let header: Vec<String> = EVENT.iter().map(|h| h.to_string()).collect();
    let rows: Vec<Vec<String>> = events.iter().map(|e| e.cells().iter().map(Cell::text).collect()).collect();
    csv_text(&header, &rows)
}

const GOLDEN_CONFIG: &str =
    "[storage]\ncold = \"sqlite:./cold.db\"\n\n[connectors.golden]\nkind = \"csv\"\ndir = \"./data\"\n";

/// A scratch folder with `volga.toml` reading the `golden` connector from its `data/`.
fn scratch() -> (tempfile::TempDir, volga::config::Config) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("volga.toml"), GOLDEN_CONFIG).unwrap();
    let config = volga::config::Config::load(Some(&dir.path().join("volga.toml"))).unwrap();
    (dir, config)
}

/// The golden guest, compiled and loaded once.
fn loaded() -> &'static volga::pipeline::LoadedPipeline {
    static LOADED: std::sync::OnceLock<volga::pipeline::LoadedPipeline> = std::sync::OnceLock::new();
    LOADED.get_or_init(|| {
        let (_dir, config) = scratch();
        volga::pipeline::LoadedPipeline::load(&config, &guest("golden")).unwrap().1
    })
}

/// Runs one case's reference and Volga (with the given batching, workers and order within a
/// time) on `events`; fails with the first differing dataset.
fn check_random(
    case: &str,
    events: &[Event],
    epoch_rows: usize,
    chunk_rows: usize,
    workers: usize,
    seed: u64,
) {
    let pipeline = loaded();
    let reference = CASES.iter().find(|(name, _)| *name == case).unwrap().1;
    let inputs =
        Inputs { events: events.to_vec(), profiles: Vec::new(), prices: Vec::new(), baskets: Vec::new() };
    let (dir, config) = scratch();
    std::fs::write(dir.path().join("data/events.csv"), events_csv(events)).unwrap();
    let options = volga::offline::OfflineOptions { epoch_rows, chunk_rows, ..Default::default() };
    for output in reference(&inputs) {
        let header: Vec<String> = output.header.iter().map(|h| h.to_string()).collect();
        let expected =
            canonical(&header, output.rows.iter().map(|r| r.iter().map(Cell::text).collect()).collect());
        let rows = crate::batching::run(&config, pipeline, output.dataset, &options, workers, seed, "random");
        let got = canonical(
            &header,
            rows.iter().map(|r| r.iter().map(volga::training::format_cell).collect()).collect(),
        );
        assert!(
            got == expected,
            "{case}: {} differs from the reference on {} events (epoch {epoch_rows}, chunk {chunk_rows}, {workers} workers, seed {seed}):\n--- reference\n{}--- volga\n{}\n--- events\n{}",
            output.dataset,
            events.len(),
            csv_text(&header, &expected),
            csv_text(&header, &got),
            events_csv(events)
        );
    }
}

macro_rules! window_property {
    ($($test:ident: $case:literal),* $(,)?) => {
        $(
            proptest! {
                #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

                #[test]
                fn $test(
                    data_seed in 0u64..u64::MAX,
                    count in 1usize..300,
                    epoch_rows in 1usize..200,
                    chunk_rows in 1usize..100,
                    workers in 1usize..=3,
                    order_seed in 1u64..u64::MAX,
                ) {
                    let events = random_events(&mut StdRng::seed_from_u64(data_seed), count);
                    check_random($case, &events, epoch_rows, chunk_rows, workers, order_seed);
                }
            }
        )*
    };
}

window_property!(
    sliding_windows_match_the_reference_under_any_batching: "sliding_edges",
    forever_windows_match_the_reference_under_any_batching: "forever_aggregates",
    tumbling_windows_match_the_reference_under_any_batching: "tumbling_buckets",
    hopping_windows_match_the_reference_under_any_batching: "hopping_hops",
    session_windows_match_the_reference_under_any_batching: "session_gaps",
    dedup_windows_match_the_reference_under_any_batching: "dedup",
    multiset_aggregates_match_the_reference_under_any_batching: "spread_aggregates",
    timed_aggregates_match_the_reference_under_any_batching: "recent_values",
);

// ---- online: the same cases served live ------------------------------------------------------

/// A source file's rows as JSON objects, in file order.
fn source_json(path: &Path) -> Vec<serde_json::Value> {
    let (header, rows) = read_csv(path);
    rows.iter()
        .map(|row| {
            let fields = header.iter().zip(row).map(|(name, cell)| {
                let value = match name.as_str() {
                    "ts" | "qty" | "tier" => serde_json::json!(cell.parse::<i64>().unwrap()),
                    "amount" | "price" if cell.is_empty() => serde_json::Value::Null,
                    "amount" | "price" => serde_json::json!(cell.parse::<f64>().unwrap()),
                    "city" if cell.is_empty() => serde_json::Value::Null,
                    "items" => serde_json::from_str(cell).unwrap(),
                    _ => serde_json::json!(cell),
                };
                (name.clone(), value)
            });
            serde_json::Value::Object(fields.collect())
        })
        .collect()
}

/// Serves the golden component with every source an HTTP push source (`disorder`), pushes the
/// data of `cases` (which read the same files), and compares each dataset's served history with
/// the expected files. `in_time_order`: push each source's rows sorted by time (else in file
/// order). Returns the failures and the number of late rows the server reported.
fn serve_cases(cases: &[(&str, Reference)], disorder: i64, in_time_order: bool) -> (Vec<String>, u64) {
    use crate::live::{Server, wait_for};
    let data = golden_dir().join(cases[0].0).join("data");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("volga.toml"),
        format!(
            "[storage]\ncold = \"sqlite:./cold.db\"\nhot = \"sled:./hot\"\n\n[server]\ntoken = \"t\"\n\n\
             [connectors.golden]\nkind = \"http\"\ndisorder = \"{disorder}ms\"\nidleness = \"200ms\"\n"
        ),
    )
    .unwrap();
    let server = Server::start(dir.path());
    server.deploy(&guest("golden"), "t");
    let mut newest = i64::MIN;
    let mut late = 0;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path()).collect();
    sources.sort();
    for path in sources {
        let mut rows = source_json(&path);
        if in_time_order {
            rows.sort_by_key(|r| r["ts"].as_i64().unwrap());
        }
        newest = newest.max(rows.iter().map(|r| r["ts"].as_i64().unwrap()).max().unwrap_or(i64::MIN));
        let source = path.file_stem().unwrap().to_string_lossy().to_string();
        let (status, body) =
            server.post(&format!("/v1/ingest/{source}"), &serde_json::Value::Array(rows.clone()));
        assert_eq!(status, 200, "ingest {source}: {body}");
        assert_eq!(body["malformed"], 0, "ingest {source}: {body}");
        late += body["late"].as_u64().unwrap();
    }
    let mut failures = Vec::new();
    for (case, reference) in cases {
        for output in reference(&load(&data)) {
            // Everything is final once the dataset's watermark passes the horizon of the case.
            wait_for(
                &format!("{} to pass {}", output.dataset, newest + 100),
                Duration::from_secs(30),
                || {
                    let (_, text) = server.get_text("/v1/datasets");
                    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
                    body["datasets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|d| d["name"] == output.dataset)
                        .and_then(|d| d["watermark"].as_i64())
                        .is_some_and(|w| w > newest + 100)
                },
            );
            let (status, csv) =
                server.get_text(&format!("/v1/datasets/{}/offline?format=csv", output.dataset));
            assert_eq!(status, 200, "{csv}");
            failures.extend(compare_history(case, output.dataset, &csv, "served online"));
        }
    }
    (failures, late)
}

/// While the expected files are being rewritten (`VOLGA_BLESS`), the online tests would race
/// with the writer; they run on the next plain run.
fn blessing() -> bool {
    std::env::var_os("VOLGA_BLESS").is_some()
}

#[test]
fn golden_histories_are_identical_online() {
    if blessing() {
        return;
    }
    // Cases reading the same input files share one server.
    let mut groups: Vec<(String, Vec<(&str, Reference)>)> = Vec::new();
    for &(case, reference) in CASES {
        let data = golden_dir().join(case).join("data");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let content: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
        match groups.iter_mut().find(|(c, _)| *c == content) {
            Some((_, cases)) => cases.push((case, reference)),
            None => groups.push((content, vec![(case, reference)])),
        }
    }
    let mut failures = Vec::new();
    for (_, cases) in &groups {
        failures.extend(serve_cases(cases, 0, true).0);
    }
    println!("golden online: {} cases in {} server runs", CASES.len(), groups.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn late_rows_are_dropped_online_as_the_reference_says() {
    if blessing() {
        return;
    }
    for &(case, reference, disorder) in LATE_CASES {
        let events = load(&golden_dir().join(case).join("data")).events;
        let on_time =
            late_rows(&Inputs { events: events.clone(), profiles: vec![], prices: vec![], baskets: vec![] });
        let expected_late = events.len() - on_time[0].rows.len();
        let (failures, late) = serve_cases(&[(case, reference)], disorder, false);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(late as usize, expected_late, "{case}: late rows reported by ingest");
    }
}
