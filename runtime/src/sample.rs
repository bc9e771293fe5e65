//! Sample data for the reference example: users and orders as CSV, from a seed.
//!
//! Used by `volga demo`, the benchmarks and the tests. The data exercises the semantics: some
//! orders come before their buyer registered or from unknown buyers (the as-of inner join drops
//! them), timestamps collide (ties), and prices have cents.

use std::io::Write;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to generate.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    /// Registered users.
    pub users: usize,
    /// Orders.
    pub orders: usize,
    /// The seed: the same spec gives the same files.
    pub seed: u64,
    /// The first order time, ms since the epoch.
    pub start_ms: i64,
    /// Orders fall within `[start, start + span)`.
    pub span_ms: i64,
    /// Timestamps are multiples of this (1000 gives many ties).
    pub granularity_ms: i64,
}

impl Default for SampleSpec {
    fn default() -> Self {
        SampleSpec {
            users: 200,
            orders: 20_000,
            seed: 42,
            start_ms: 1_700_000_000_000,
            span_ms: 10 * 86_400_000,
            granularity_ms: 1000,
        }
    }
}

/// The product types orders carry; the example keeps `ON_SALE`.
pub const PRODUCT_TYPES: [&str; 3] = ["ON_SALE", "REGULAR", "CLEARANCE"];

/// Writes `users.csv` and `orders.csv` into `dir`.
pub fn write_sample(dir: &Path, spec: &SampleSpec) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let round = |t: i64| t - t.rem_euclid(spec.granularity_ms.max(1));
    let mut users = std::io::BufWriter::new(std::fs::File::create(dir.join("users.csv"))?);
    writeln!(users, "user_id,registered_at,name")?;
    for i in 0..spec.users {
        // Most users exist before the first order; some register during the period.
        let registered = if rng.random_bool(0.8) {
            spec.start_ms - rng.random_range(0..30 * 86_400_000)
        } else {
            spec.start_ms + rng.random_range(0..spec.span_ms.max(1))
        };
        writeln!(users, "u{i},{},user {i}", round(registered))?;
    }
    users.flush()?;
    let mut orders = std::io::BufWriter::new(std::fs::File::create(dir.join("orders.csv"))?);
    writeln!(orders, "buyer_id,product_id,product_type,purchased_at,product_price")?;
    let unknown = (spec.users / 20).max(1);
    for _ in 0..spec.orders {
        let buyer = rng.random_range(0..spec.users + unknown);
        let product = rng.random_range(0..500);
        let kind = PRODUCT_TYPES[rng.random_range(0..PRODUCT_TYPES.len())];
        let time = round(spec.start_ms + rng.random_range(0..spec.span_ms.max(1)));
        let cents: i64 = rng.random_range(1..100_000);
        writeln!(orders, "u{buyer},p{product},{kind},{time},{}.{:02}", cents / 100, cents % 100)?;
    }
    orders.flush()
}
