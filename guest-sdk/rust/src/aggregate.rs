//! Aggregate builders: `Avg::on("price").window("7d").into("avg_price_7d")`.

use crate::bindings::volga::pipeline::description as wit;

/// One aggregate of a `group_by(...).aggregate([...])` call.
#[derive(Clone, Debug)]
pub struct Aggregate {
    kind: wit::AggregateKind,
    on: Option<String>,
    window: wit::Window,
    into: String,
}

impl Aggregate {
    pub(crate) fn to_wit(&self) -> wit::AggregateDef {
        wit::AggregateDef {
            kind: self.kind.clone(),
            on: self.on.clone(),
            window: self.window.clone(),
            into: self.into.clone(),
        }
    }
}

/// An aggregate still missing its window or output field.
#[derive(Clone, Debug)]
pub struct AggregateBuilder {
    kind: wit::AggregateKind,
    on: Option<String>,
    window: wit::Window,
}

impl AggregateBuilder {
    fn new(kind: wit::AggregateKind, on: Option<&str>) -> Self {
        AggregateBuilder { kind, on: on.map(str::to_string), window: wit::Window::Forever }
    }

    /// A sliding window: rows with `T - d < ts <= T`, `d` written `"30s"`, `"1h"`, `"7d"`, `"1w"`;
    /// `"forever"` for all rows up to `T` (the default).
    pub fn window(mut self, window: &str) -> Self {
        self.window =
            if window == "forever" { wit::Window::Forever } else { wit::Window::Sliding(window.to_string()) };
        self
    }

    /// The last closed bucket of a tumbling window of width `width`: buckets `[n*d, (n+1)*d)`
    /// aligned to the Unix epoch; at `T` the value covers the latest bucket that ended at or
    /// before `T`.
    pub fn tumbling(mut self, width: &str) -> Self {
        self.window = wit::Window::Tumbling(width.to_string());
        self
    }

    /// The last closed hop of a hopping window: hops `[k*stride, k*stride + width)` aligned to
    /// the Unix epoch; at `T` the value covers the latest hop that ended at or before `T`.
    pub fn hopping(mut self, width: &str, stride: &str) -> Self {
        self.window = wit::Window::Hopping((width.to_string(), stride.to_string()));
        self
    }

    /// The last closed session of the key: a session is a run of rows less than `gap` apart,
    /// closed `gap` after its last row; at `T` the value covers the session that closed last
    /// at or before `T`.
    pub fn session(mut self, gap: &str) -> Self {
        self.window = wit::Window::Session(gap.to_string());
        self
    }

    /// Names the output field.
    pub fn into(self, field: &str) -> Aggregate {
        Aggregate { kind: self.kind, on: self.on, window: self.window, into: field.to_string() }
    }
}

macro_rules! aggregate_on {
    ($(#[$doc:meta])* $name:ident, $kind:ident) => {
        $(#[$doc])*
        pub struct $name;

        impl $name {
            /// Aggregates the field `field`.
            pub fn on(field: &str) -> AggregateBuilder {
                AggregateBuilder::new(wit::AggregateKind::$kind, Some(field))
            }
        }
    };
}

aggregate_on!(
    /// Exact sum of a numeric field; 0 over an empty window.
    Sum, Sum
);
aggregate_on!(
    /// Exact mean of a numeric field (the exact sum rounded once, divided by the count); null
    /// over an empty window.
    Avg, Avg
);
aggregate_on!(
    /// Smallest value of a field; null over an empty window.
    Min, Min
);
aggregate_on!(
    /// Largest value of a field; null over an empty window.
    Max, Max
);

aggregate_on!(
    /// Population standard deviation of a numeric field: `sqrt(fsum((x - mean)^2) / n)` with
    /// the exact mean rounded once; null over an empty window.
    Stddev, Stddev
);
aggregate_on!(
    /// Number of distinct non-null values of a field; 0 over an empty window.
    Distinct, Distinct
);

/// The `p`-quantile of a numeric field by nearest rank (the value at 1-based rank
/// `max(1, ceil(p * n))`, so always one of the values); null over an empty window.
pub struct Quantile;

impl Quantile {
    /// The `p`-quantile (`0 <= p <= 1`) of `field`.
    pub fn on(field: &str, p: f64) -> AggregateBuilder {
        AggregateBuilder::new(wit::AggregateKind::Quantile(p), Some(field))
    }
}

/// The `k` most recent non-null values of a field, most recent first, as a list (`Vec<T>`);
/// empty over an empty window.
pub struct LastK;

impl LastK {
    /// The last `k` values of `field`.
    pub fn on(field: &str, k: u32) -> AggregateBuilder {
        AggregateBuilder::new(wit::AggregateKind::LastK(k), Some(field))
    }
}

/// The `k` earliest non-null values of a field, earliest first, as a list (`Vec<T>`); empty
/// over an empty window.
pub struct FirstK;

impl FirstK {
    /// The first `k` values of `field`.
    pub fn on(field: &str, k: u32) -> AggregateBuilder {
        AggregateBuilder::new(wit::AggregateKind::FirstK(k), Some(field))
    }
}

/// Exponentially decayed sum of a numeric field: each value weighs `2^(-age / half_life)`,
/// evaluated whenever a row enters or leaves the window; 0 over an empty window.
pub struct ExpDecaySum;

impl ExpDecaySum {
    /// The decayed sum of `field` with this half-life (`"1h"`).
    pub fn on(field: &str, half_life: &str) -> AggregateBuilder {
        AggregateBuilder::new(wit::AggregateKind::ExpDecaySum(half_life.to_string()), Some(field))
    }
}

/// Number of rows; 0 over an empty window.
pub struct Count;

impl Count {
    /// Counts rows.
    pub fn rows() -> AggregateBuilder {
        AggregateBuilder::new(wit::AggregateKind::Count, None)
    }

    /// Counts rows where `field` is not null.
    pub fn on(field: &str) -> AggregateBuilder {
        AggregateBuilder::new(wit::AggregateKind::Count, Some(field))
    }
}
