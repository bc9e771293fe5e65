//! One aggregate's running state for one key and window, updated by `(value, diff)` pairs in any
//! order: every accumulator is invertible, so a row leaving a window is an update with `-diff`.

use std::collections::BTreeMap;

use super::ExactSum;
use crate::plan::AggregateFn;
use crate::value::{F64, ScalarType, Value};

/// The state of one aggregate.
#[derive(Clone, Debug)]
pub enum Accumulator {
    /// Rows, or non-null values.
    Count(i64),
    /// Sum of integers, wide enough never to overflow while accumulating.
    SumInt(i128),
    /// Exact sum of floats.
    SumFloat(ExactSum),
    /// Exact sum and count of non-null values.
    Avg {
        /// The exact sum.
        sum: ExactSum,
        /// The number of values.
        count: i64,
    },
    /// The multiset of values, for Min and Max.
    Extreme {
        /// Value -> multiplicity.
        values: BTreeMap<Value, i64>,
        /// Max when true, Min when false.
        max: bool,
    },
    /// The multiset of values, for the aggregates that need all of them.
    Multiset {
        /// Value -> multiplicity.
        values: BTreeMap<Value, i64>,
        /// Exact sum and count, for Stddev's mean.
        sum: ExactSum,
        /// Non-null values.
        count: i64,
        /// Which aggregate.
        function: AggregateFn,
    },
    /// The multiset of `[time, value]` pairs (as two-item lists, ordered by time, then value),
    /// for the aggregates that depend on when values came.
    Timed {
        /// `[time, value]` -> multiplicity.
        values: BTreeMap<Value, i64>,
        /// Which aggregate.
        function: AggregateFn,
        /// ExpDecaySum's value as of the last change of `values`; `None` after a change.
        decayed: Option<Value>,
        /// LastK / FirstK over a window rows never leave (`forever`): only the `k` values that
        /// can still be the answer are kept.
        keep: Option<usize>,
    },
}

impl Accumulator {
    /// An empty accumulator of `function` over values of type `scalar` (none: a row count).
    pub fn new(function: AggregateFn, scalar: Option<ScalarType>) -> Self {
        match function {
            AggregateFn::Count => Accumulator::Count(0),
            AggregateFn::Sum if scalar == Some(ScalarType::Float) => Accumulator::SumFloat(ExactSum::new()),
            AggregateFn::Sum => Accumulator::SumInt(0),
            AggregateFn::Avg => Accumulator::Avg { sum: ExactSum::new(), count: 0 },
            AggregateFn::Min => Accumulator::Extreme { values: BTreeMap::new(), max: false },
            AggregateFn::Max => Accumulator::Extreme { values: BTreeMap::new(), max: true },
            AggregateFn::Stddev | AggregateFn::Distinct | AggregateFn::Quantile(_) => {
                Accumulator::Multiset { values: BTreeMap::new(), sum: ExactSum::new(), count: 0, function }
            }
            AggregateFn::LastK(_) | AggregateFn::FirstK(_) | AggregateFn::ExpDecaySum(_) => {
                Accumulator::Timed { values: BTreeMap::new(), function, decayed: None, keep: None }
            }
        }
    }

    /// An accumulator for a window that only ever adds rows (`forever`: aggregates read event
    /// streams, which only insert, and rows never leave). LastK and FirstK then keep only the
    /// `k` values that can still be the answer, so their state stays bounded.
    pub fn never_removing(mut self) -> Self {
        if let Accumulator::Timed { function: AggregateFn::LastK(k) | AggregateFn::FirstK(k), keep, .. } =
            &mut self
        {
            *keep = Some(*k as usize);
        }
        self
    }

    /// The input of a timed aggregate (see [`AggregateFn::is_timed`]): `value` at `time` as a
    /// `[time, value]` pair; null stays null (ignored).
    pub fn timed(time: i64, value: &Value) -> Value {
        match value {
            Value::Null => Value::Null,
            other => Value::List(vec![Value::Int(time), other.clone()].into()),
        }
    }

    /// Adds `diff` copies of `value` (removes them when `diff < 0`). `None` is a row of a row
    /// count; `Some(Null)` is ignored by every aggregate.
    pub fn update(&mut self, value: Option<&Value>, diff: isize) {
        let diff64 = diff as i64;
        match (self, value) {
            (Accumulator::Count(n), None) => *n += diff64,
            (_, Some(Value::Null)) => {}
            (Accumulator::Count(n), Some(_)) => *n += diff64,
            (Accumulator::SumInt(sum), Some(Value::Int(v))) => *sum += *v as i128 * diff as i128,
            (Accumulator::SumFloat(sum), Some(Value::Float(F64(v)))) => add_times(sum, *v, diff),
            (Accumulator::SumFloat(sum), Some(Value::Int(v))) => add_times(sum, *v as f64, diff),
            (Accumulator::Avg { sum, count }, Some(value)) => {
                let v = match value {
                    Value::Float(F64(v)) => *v,
                    Value::Int(v) => *v as f64,
                    _ => return,
                };
                add_times(sum, v, diff);
                *count += diff64;
            }
            (Accumulator::Extreme { values, .. }, Some(value)) => add_to_multiset(values, value, diff64),
            (Accumulator::Timed { values, decayed, keep, function }, Some(value)) => {
                add_to_multiset(values, value, diff64);
                *decayed = None;
                if let Some(k) = *keep {
                    prune(values, k, matches!(function, AggregateFn::LastK(_)));
                }
            }
            (Accumulator::Multiset { values, sum, count, function }, Some(value)) => {
                add_to_multiset(values, value, diff64);
                *count += diff64;
                if *function == AggregateFn::Stddev
                    && let Some(v) = as_f64(value)
                {
                    add_times(sum, v, diff);
                }
            }
            _ => {}
        }
    }

    /// The aggregate's value at `time`, the time of its last update (ExpDecaySum is evaluated
    /// then and cached until the next update).
    pub fn value_at(&mut self, time: i64) -> Value {
        if let Accumulator::Timed { values, function: AggregateFn::ExpDecaySum(half_life), decayed, .. } =
            self
        {
            return decayed.get_or_insert_with(|| exp_decay_sum(values, time, *half_life)).clone();
        }
        self.value()
    }

    /// The aggregate's current value (ExpDecaySum: as last evaluated by [`Self::value_at`]).
    pub fn value(&self) -> Value {
        match self {
            Accumulator::Count(n) => Value::Int(*n),
            Accumulator::SumInt(sum) => Value::Int((*sum).clamp(i64::MIN as i128, i64::MAX as i128) as i64),
            Accumulator::SumFloat(sum) => Value::Float(F64(sum.value())),
            Accumulator::Avg { count: 0, .. } => Value::Null,
            // One rounding of the exact sum, then one division: `math.fsum(xs) / len(xs)`.
            Accumulator::Avg { sum, count } => Value::Float(F64(sum.value() / *count as f64)),
            Accumulator::Extreme { values, max } => {
                let extreme = if *max { values.keys().next_back() } else { values.keys().next() };
                extreme.cloned().unwrap_or(Value::Null)
            }
            Accumulator::Multiset { values, sum, count, function } => match function {
                AggregateFn::Distinct => Value::Int(values.len() as i64),
                _ if *count == 0 => Value::Null,
                AggregateFn::Quantile(F64(p)) => {
                    let rank = ((p * *count as f64).ceil() as i64).clamp(1, *count);
                    let mut seen = 0;
                    values
                        .iter()
                        .find(|(_, n)| {
                            seen += **n;
                            seen >= rank
                        })
                        .map_or(Value::Null, |(v, _)| v.clone())
                }
                _ => {
                    // Stddev: squared deviations from the once-rounded mean, summed exactly.
                    let n = *count as f64;
                    let mean = sum.value() / n;
                    let mut squares = ExactSum::new();
                    for (value, times) in values {
                        let d = as_f64(value).unwrap_or(0.0) - mean;
                        add_times(&mut squares, d * d, *times as isize);
                    }
                    Value::Float(F64((squares.value() / n).sqrt()))
                }
            },
            Accumulator::Timed { decayed, function: AggregateFn::ExpDecaySum(_), .. } => {
                decayed.clone().unwrap_or(Value::Float(F64(0.0)))
            }
            Accumulator::Timed { values, function, .. } => k_values(values, *function),
        }
    }
}

/// The `[time, value]` pairs' values, `k` of them from the start (`FirstK`) or end (`LastK`).
fn k_values(values: &BTreeMap<Value, i64>, function: AggregateFn) -> Value {
    let item = |pair: &Value| match pair {
        Value::List(pair) => pair[1].clone(),
        _ => Value::Null,
    };
    let repeat = |(pair, n): (&Value, &i64)| std::iter::repeat_n(item(pair), (*n).max(0) as usize);
    let items: Vec<Value> = match function {
        AggregateFn::LastK(k) => values.iter().rev().flat_map(repeat).take(k as usize).collect(),
        AggregateFn::FirstK(k) => values.iter().flat_map(repeat).take(k as usize).collect(),
        _ => Vec::new(),
    };
    Value::List(items.into())
}

/// Drops the values beyond the `k` greatest (`last`) or least: they can no longer be among the
/// answer when values are only added.
fn prune(values: &mut BTreeMap<Value, i64>, k: usize, last: bool) {
    let mut held: usize = values.values().map(|n| (*n).max(0) as usize).sum();
    while held > k {
        let mut entry = if last { values.first_entry() } else { values.last_entry() }.expect("held > k > 0");
        let excess = (held - k).min(*entry.get() as usize);
        *entry.get_mut() -= excess as i64;
        held -= excess;
        if *entry.get() == 0 {
            entry.remove();
        }
    }
}

/// `fsum(x * exp2(-(time - ts) / half_life))` over the `[ts, x]` pairs.
fn exp_decay_sum(values: &BTreeMap<Value, i64>, time: i64, half_life: i64) -> Value {
    let mut sum = ExactSum::new();
    for (pair, n) in values {
        if let Value::List(pair) = pair
            && let (Value::Int(ts), Some(x)) = (&pair[0], as_f64(&pair[1]))
        {
            let term = x * (-((time - ts) as f64) / half_life as f64).exp2();
            add_times(&mut sum, term, *n as isize);
        }
    }
    Value::Float(F64(sum.value()))
}

fn add_to_multiset(values: &mut BTreeMap<Value, i64>, value: &Value, diff: i64) {
    let n = values.entry(value.clone()).or_insert(0);
    *n += diff;
    if *n == 0 {
        values.remove(value);
    }
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Float(F64(v)) => Some(*v),
        Value::Int(v) => Some(*v as f64),
        _ => None,
    }
}

fn add_times(sum: &mut ExactSum, value: f64, diff: isize) {
    let sign = if diff < 0 { -1 } else { 1 };
    for _ in 0..diff.unsigned_abs() {
        sum.add(value, sign);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_is_exact_sum_over_count_and_null_when_empty() {
        let mut avg = Accumulator::new(AggregateFn::Avg, Some(ScalarType::Float));
        assert_eq!(avg.value(), Value::Null);
        for v in [0.1, 0.2, 0.3] {
            avg.update(Some(&Value::float(v)), 1);
        }
        // fsum([0.1, 0.2, 0.3]) == 0.6, and 0.6 / 3 == 0.19999999999999998.
        assert_eq!(avg.value(), Value::float(0.6 / 3.0));
        avg.update(Some(&Value::float(0.2)), -1);
        assert_eq!(avg.value(), Value::float(0.4 / 2.0));
    }

    #[test]
    fn min_max_follow_removals() {
        let mut max = Accumulator::new(AggregateFn::Max, Some(ScalarType::Int));
        for v in [3, 7, 7, 1] {
            max.update(Some(&Value::Int(v)), 1);
        }
        assert_eq!(max.value(), Value::Int(7));
        max.update(Some(&Value::Int(7)), -1);
        assert_eq!(max.value(), Value::Int(7));
        max.update(Some(&Value::Int(7)), -1);
        assert_eq!(max.value(), Value::Int(3));
    }

    #[test]
    fn stddev_distinct_and_quantile_follow_their_stated_rules() {
        let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut stddev = Accumulator::new(AggregateFn::Stddev, Some(ScalarType::Float));
        let mut distinct = Accumulator::new(AggregateFn::Distinct, Some(ScalarType::Float));
        let mut median = Accumulator::new(AggregateFn::Quantile(F64(0.5)), Some(ScalarType::Float));
        let mut p90 = Accumulator::new(AggregateFn::Quantile(F64(0.9)), Some(ScalarType::Float));
        assert_eq!(
            (stddev.value(), median.value(), distinct.value()),
            (Value::Null, Value::Null, Value::Int(0))
        );
        for v in values {
            for a in [&mut stddev, &mut distinct, &mut median, &mut p90] {
                a.update(Some(&Value::float(v)), 1);
            }
        }
        // Mean 5, squared deviations sum to 32, population variance 4.
        assert_eq!(stddev.value(), Value::float(2.0));
        assert_eq!(distinct.value(), Value::Int(5));
        // Nearest rank: ceil(0.5 * 8) = 4th value, ceil(0.9 * 8) = 8th.
        assert_eq!((median.value(), p90.value()), (Value::float(4.0), Value::float(9.0)));
        p90.update(Some(&Value::float(9.0)), -1);
        assert_eq!(p90.value(), Value::float(7.0));
        stddev.update(Some(&Value::Null), 1);
        assert_eq!(stddev.value(), Value::float(2.0), "nulls are ignored");
    }

    #[test]
    fn last_and_first_k_order_by_time_then_value() {
        let mut last = Accumulator::new(AggregateFn::LastK(3), Some(ScalarType::Int));
        let mut first = Accumulator::new(AggregateFn::FirstK(2), Some(ScalarType::Int));
        assert_eq!(last.value(), Value::List(Vec::new().into()));
        for (t, v) in [(5, 1), (1, 9), (5, 3), (7, 2), (7, 2)] {
            for a in [&mut last, &mut first] {
                a.update(Some(&Accumulator::timed(t, &Value::Int(v))), 1);
            }
        }
        let list = |items: &[i64]| Value::List(items.iter().map(|&v| Value::Int(v)).collect());
        assert_eq!(last.value(), list(&[2, 2, 3]));
        assert_eq!(first.value(), list(&[9, 1]));
        last.update(Some(&Accumulator::timed(7, &Value::Int(2))), -2);
        assert_eq!(last.value(), list(&[3, 1, 9]));
        last.update(Some(&Accumulator::timed(8, &Value::Null)), 1);
        assert_eq!(last.value(), list(&[3, 1, 9]), "nulls are ignored");
    }

    #[test]
    fn forever_last_and_first_k_keep_only_k_values() {
        let mut last = Accumulator::new(AggregateFn::LastK(2), Some(ScalarType::Int)).never_removing();
        let mut first = Accumulator::new(AggregateFn::FirstK(2), Some(ScalarType::Int)).never_removing();
        for t in 0..100 {
            for a in [&mut last, &mut first] {
                a.update(Some(&Accumulator::timed(t, &Value::Int(t))), 1);
            }
        }
        let list = |items: &[i64]| Value::List(items.iter().map(|&v| Value::Int(v)).collect());
        assert_eq!((last.value(), first.value()), (list(&[99, 98]), list(&[0, 1])));
        let held = |a: &Accumulator| match a {
            Accumulator::Timed { values, .. } => values.len(),
            _ => unreachable!(),
        };
        assert_eq!((held(&last), held(&first)), (2, 2));
    }

    #[test]
    fn exp_decay_sum_halves_per_half_life_as_of_its_last_change() {
        let mut decay = Accumulator::new(AggregateFn::ExpDecaySum(10), Some(ScalarType::Float));
        assert_eq!(decay.value_at(0), Value::float(0.0));
        decay.update(Some(&Accumulator::timed(0, &Value::float(8.0))), 1);
        decay.update(Some(&Accumulator::timed(10, &Value::float(1.0))), 1);
        // 8 * 2^-2 + 1 * 2^-1 at T = 20; unchanged rows keep that value at later times.
        assert_eq!(decay.value_at(20), Value::float(2.5));
        assert_eq!(decay.value_at(30), Value::float(2.5));
        decay.update(Some(&Accumulator::timed(0, &Value::float(8.0))), -1);
        assert_eq!(decay.value_at(30), Value::float(0.25));
    }

    #[test]
    fn counts_ignore_nulls_only_when_counting_a_field() {
        let mut rows = Accumulator::new(AggregateFn::Count, None);
        rows.update(None, 1);
        rows.update(None, 1);
        let mut field = Accumulator::new(AggregateFn::Count, Some(ScalarType::Int));
        field.update(Some(&Value::Null), 1);
        field.update(Some(&Value::Int(1)), 1);
        assert_eq!((rows.value(), field.value()), (Value::Int(2), Value::Int(1)));
    }
}
