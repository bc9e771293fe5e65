//! Aggregates and windows of `group_by(...).aggregate([...])`.

use std::fmt;

use crate::duration::parse_millis;
use crate::schema::Schema;
use crate::value::{F64, FieldType, ScalarType};
use crate::wasm::spec;

/// The rows an aggregate sees at time `T`.
///
/// Every kind is described by when a row at `ts` *counts*: from an enter time to a leave time
/// ([`Window::interval`]). Buckets and hops are aligned to the Unix epoch (floor division, also
/// for negative times).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Window {
    /// Rows with `T - width < ts <= T`: a row counts from `ts` until `ts + width`.
    Sliding(i64),
    /// Rows with `ts <= T`: a row counts from `ts` on.
    Forever,
    /// The last closed bucket: buckets are `[n*d, (n+1)*d)`, and at `T` the value covers the
    /// bucket with the greatest `n` such that `(n+1)*d <= T`. A row counts from the end of its
    /// bucket `E = (floor(ts/d)+1)*d` until `E + d`.
    Tumbling(i64),
    /// The last closed hop: hops are `[k*stride, k*stride + width)`, and at `T` the value
    /// covers the hop with the greatest `k` such that `k*stride + width <= T`. A row belongs
    /// to hops `k_min..=k_max` (those containing `ts`) and counts from `k_min*stride + width`
    /// until `(k_max+1)*stride + width`; with `stride > width` some rows are in no hop and
    /// never count.
    Hopping {
        /// The length of a hop.
        width: i64,
        /// The distance between hop starts.
        stride: i64,
    },
    /// The last closed session of the key: a session is a maximal run of the key's rows in
    /// which consecutive rows are less than `gap` apart, and it closes `gap` after its last
    /// row. At `T` the value covers the session that closed last at or before `T`, so a row
    /// counts from its session's close until the next session's close. Which session a row
    /// belongs to depends on later rows, so [`Window::interval`] does not apply.
    Session(i64),
}

impl Window {
    /// When a row at `ts` counts: `Some((enter, leave))` with `leave = None` for never; `None`
    /// if it never does (or, for sessions, if that depends on other rows). `enter >= ts` always.
    pub fn interval(self, ts: i64) -> Option<(i64, Option<i64>)> {
        match self {
            Window::Sliding(width) => Some((ts, ts.checked_add(width))),
            Window::Forever => Some((ts, None)),
            Window::Tumbling(width) => Window::Hopping { width, stride: width }.interval(ts),
            Window::Session(_) => None,
            Window::Hopping { width, stride } => {
                // k*stride <= ts < k*stride + width
                let k_max = ts.div_euclid(stride);
                let k_min = (ts - width).div_euclid(stride) + 1;
                if k_min > k_max {
                    return None;
                }
                let enter = k_min.checked_mul(stride)?.checked_add(width)?;
                let leave = (k_max + 1).checked_mul(stride).and_then(|t| t.checked_add(width));
                Some((enter, leave))
            }
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Sliding(ms) => write!(f, "{ms}ms"),
            Window::Forever => f.write_str("forever"),
            Window::Tumbling(ms) => write!(f, "tumbling({ms}ms)"),
            Window::Hopping { width, stride } => write!(f, "hopping({width}ms, {stride}ms)"),
            Window::Session(gap) => write!(f, "session({gap}ms)"),
        }
    }
}

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateFn {
    /// Number of rows (or of non-null values of a field); 0 when empty.
    Count,
    /// Exact sum; 0 when empty.
    Sum,
    /// Exact sum rounded once, divided by the count; null when empty.
    Avg,
    /// Smallest value; null when empty.
    Min,
    /// Largest value; null when empty.
    Max,
    /// Population standard deviation of the non-null values; null when empty. With `mean` the
    /// exact sum rounded once divided by `n`, it is `sqrt(S / n)` where `S` is the exact sum,
    /// rounded once, of each value's `(x - mean) * (x - mean)` (each product rounded):
    /// Python's `math.sqrt(math.fsum((x - m) * (x - m) for x in xs) / n)`.
    Stddev,
    /// Number of distinct non-null values; 0 when empty.
    Distinct,
    /// The `p`-quantile of the non-null values by nearest rank: the value at 1-based rank
    /// `max(1, ceil(p * n))` in ascending order (p = 0 is the minimum, 1 the maximum). Always
    /// one of the values, so exact; null when empty.
    Quantile(F64),
    /// The `k` most recent non-null values, most recent first (ties at one time: greater
    /// values first); an empty list when empty.
    LastK(u32),
    /// The `k` earliest non-null values, earliest first (ties at one time: lesser values
    /// first); an empty list when empty.
    FirstK(u32),
    /// Exponentially decayed sum with this half-life (ms): at `T`, the exact sum, rounded once,
    /// of each value's `x * exp2(-(T - ts) / half_life)` (each term rounded), evaluated at
    /// the last time a non-null value entered or left this aggregate's window and holding
    /// until the next such time; 0 when empty.
    ExpDecaySum(i64),
}

impl AggregateFn {
    /// Whether the aggregate needs each value's event time, not only the value.
    pub fn is_timed(self) -> bool {
        matches!(self, AggregateFn::LastK(_) | AggregateFn::FirstK(_) | AggregateFn::ExpDecaySum(_))
    }
}

impl fmt::Display for AggregateFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggregateFn::Count => "Count",
            AggregateFn::Sum => "Sum",
            AggregateFn::Avg => "Avg",
            AggregateFn::Min => "Min",
            AggregateFn::Max => "Max",
            AggregateFn::Stddev => "Stddev",
            AggregateFn::Distinct => "Distinct",
            AggregateFn::Quantile(_) => "Quantile",
            AggregateFn::LastK(_) => "LastK",
            AggregateFn::FirstK(_) => "FirstK",
            AggregateFn::ExpDecaySum(_) => "ExpDecaySum",
        })
    }
}

/// A validated aggregate.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregatePlan {
    /// The function.
    pub function: AggregateFn,
    /// The input field it reads (index into the input schema); none for a row count.
    pub on: Option<usize>,
    /// Its window.
    pub window: Window,
    /// The output field's name.
    pub into: String,
    /// The output field's type.
    pub ty: FieldType,
}

impl AggregatePlan {
    /// Validates `def` against the input schema; the error names the aggregate.
    pub(crate) fn new(input: &Schema, def: &spec::AggregateDef) -> Result<AggregatePlan, (String, String)> {
        let label =
            || format!("aggregate {:?}({}) into `{}`", def.kind, def.on.as_deref().unwrap_or(""), def.into);
        let err = |message: String| (label(), message);
        let function = match def.kind {
            spec::AggregateKind::Count => AggregateFn::Count,
            spec::AggregateKind::Sum => AggregateFn::Sum,
            spec::AggregateKind::Avg => AggregateFn::Avg,
            spec::AggregateKind::Min => AggregateFn::Min,
            spec::AggregateKind::Max => AggregateFn::Max,
            spec::AggregateKind::Stddev => AggregateFn::Stddev,
            spec::AggregateKind::Distinct => AggregateFn::Distinct,
            spec::AggregateKind::Quantile(p) if (0.0..=1.0).contains(&p) => AggregateFn::Quantile(F64(p)),
            spec::AggregateKind::Quantile(p) => {
                return Err(err(format!("quantile {p} is outside [0, 1]")));
            }
            spec::AggregateKind::LastK(0) | spec::AggregateKind::FirstK(0) => {
                return Err(err("k must be at least 1".into()));
            }
            spec::AggregateKind::LastK(k) => AggregateFn::LastK(k),
            spec::AggregateKind::FirstK(k) => AggregateFn::FirstK(k),
            spec::AggregateKind::ExpDecaySum(ref half_life) => {
                AggregateFn::ExpDecaySum(parse_millis(half_life).map_err(|e| err(format!("half-life: {e}")))?)
            }
        };
        let window = match &def.window {
            spec::Window::Sliding(text) => {
                Window::Sliding(parse_millis(text).map_err(|e| err(e.to_string()))?)
            }
            spec::Window::Forever => Window::Forever,
            spec::Window::Tumbling(text) => {
                Window::Tumbling(parse_millis(text).map_err(|e| err(e.to_string()))?)
            }
            spec::Window::Hopping((width, stride)) => Window::Hopping {
                width: parse_millis(width).map_err(|e| err(format!("hop width: {e}")))?,
                stride: parse_millis(stride).map_err(|e| err(format!("hop stride: {e}")))?,
            },
            spec::Window::Session(text) => {
                Window::Session(parse_millis(text).map_err(|e| err(format!("session gap: {e}")))?)
            }
        };
        let on = match &def.on {
            None if function == AggregateFn::Count => None,
            None => return Err(err(format!("{function} needs a field (`on`)"))),
            Some(name) => Some(
                input
                    .index_of(name)
                    .ok_or_else(|| err(format!("no field `{name}` in its input ({})", input.describe())))?,
            ),
        };
        if let Some(i) = on
            && input.fields[i].ty.list
        {
            return Err(err(format!(
                "cannot aggregate `{}` of type {}: explode the list first",
                input.fields[i].name, input.fields[i].ty
            )));
        }
        let input_scalar = on.map(|i| input.fields[i].ty.scalar);
        let numeric = matches!(input_scalar, Some(ScalarType::Int | ScalarType::Float));
        let ty = match function {
            AggregateFn::Count => FieldType::required(ScalarType::Int),
            AggregateFn::Sum if numeric => FieldType::required(input_scalar.expect("numeric")),
            AggregateFn::Avg if numeric => FieldType::optional(ScalarType::Float),
            AggregateFn::Min | AggregateFn::Max if input_scalar.is_some_and(|s| s != ScalarType::Bool) => {
                FieldType::optional(input_scalar.expect("checked"))
            }
            AggregateFn::Stddev if numeric => FieldType::optional(ScalarType::Float),
            AggregateFn::Distinct if on.is_some() => FieldType::required(ScalarType::Int),
            AggregateFn::Quantile(_) if numeric || input_scalar == Some(ScalarType::Timestamp) => {
                FieldType::optional(input_scalar.expect("checked"))
            }
            AggregateFn::LastK(_) | AggregateFn::FirstK(_) if on.is_some() => {
                FieldType::list(input_scalar.expect("checked"))
            }
            AggregateFn::ExpDecaySum(_) if numeric => FieldType::required(ScalarType::Float),
            _ => {
                return Err(err(format!(
                    "cannot aggregate field of type {}",
                    input.fields[on.expect("count handled")].ty
                )));
            }
        };
        Ok(AggregatePlan { function, on, window, into: def.into.clone(), ty })
    }
}

#[cfg(test)]
mod tests {
    use super::Window;

    #[test]
    fn a_row_counts_from_the_close_of_its_bucket_for_one_bucket() {
        assert_eq!(Window::Tumbling(10).interval(0), Some((10, Some(20))));
        assert_eq!(Window::Tumbling(10).interval(9), Some((10, Some(20))));
        assert_eq!(Window::Tumbling(10).interval(10), Some((20, Some(30))));
        assert_eq!(Window::Tumbling(10).interval(-1), Some((0, Some(10))));
    }

    #[test]
    fn a_row_counts_while_the_last_closed_hop_contains_it() {
        // Hops [5k, 5k+10): ts 12 is in hops k=1 [5,15) and k=2 [10,20), which close at 15 and 20;
        // the last closed hop at T is k = floor((T-10)/5), so it counts for T in [15, 25).
        assert_eq!(Window::Hopping { width: 10, stride: 5 }.interval(12), Some((15, Some(25))));
        // Hops [10k, 10k+3): ts 5 is in none.
        assert_eq!(Window::Hopping { width: 3, stride: 10 }.interval(5), None);
        assert_eq!(Window::Hopping { width: 3, stride: 10 }.interval(21), Some((23, Some(33))));
        assert_eq!(Window::Sliding(7).interval(3), Some((3, Some(10))));
        assert_eq!(Window::Forever.interval(3), Some((3, None)));
    }
}
