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

    /// The aggregate's current value.
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
        }
    }
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
