//! Exact, invertible aggregate accumulators.

mod accumulator;
mod exact_sum;

pub use accumulator::Accumulator;
pub use exact_sum::ExactSum;
