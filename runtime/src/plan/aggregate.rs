//! Aggregates and windows of `group_by(...).aggregate([...])`.

use std::fmt;

use crate::duration::parse_millis;
use crate::schema::Schema;
use crate::value::{FieldType, ScalarType};
use crate::wasm::spec;

/// The rows an aggregate sees at time `T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Window {
    /// Rows with `T - width < ts <= T`; a row leaves the window at `ts + width`.
    Sliding(i64),
    /// Rows with `ts <= T`.
    Forever,
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Sliding(ms) => write!(f, "{ms}ms"),
            Window::Forever => f.write_str("forever"),
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
}

impl fmt::Display for AggregateFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggregateFn::Count => "Count",
            AggregateFn::Sum => "Sum",
            AggregateFn::Avg => "Avg",
            AggregateFn::Min => "Min",
            AggregateFn::Max => "Max",
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
            ref other => return Err(err(format!("{other:?} is not supported yet"))),
        };
        let window = match &def.window {
            spec::Window::Sliding(text) => {
                Window::Sliding(parse_millis(text).map_err(|e| err(e.to_string()))?)
            }
            spec::Window::Forever => Window::Forever,
            other => return Err(err(format!("window {other:?} is not supported yet"))),
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
        let input_scalar = on.map(|i| input.fields[i].ty.scalar);
        let numeric = matches!(input_scalar, Some(ScalarType::Int | ScalarType::Float));
        let ty = match function {
            AggregateFn::Count => FieldType::required(ScalarType::Int),
            AggregateFn::Sum if numeric => FieldType::required(input_scalar.expect("numeric")),
            AggregateFn::Avg if numeric => FieldType::optional(ScalarType::Float),
            AggregateFn::Min | AggregateFn::Max if input_scalar.is_some_and(|s| s != ScalarType::Bool) => {
                FieldType::optional(input_scalar.expect("checked"))
            }
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
