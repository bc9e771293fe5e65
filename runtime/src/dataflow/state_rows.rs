//! How many input rows the stateful operators of a job hold, now and at most: windows keep the
//! rows still counting (or waiting to), so this measures that state stays bounded by them.

use std::sync::atomic::{AtomicI64, Ordering};

/// Rows held in operator state across the workers of a job.
#[derive(Debug, Default)]
pub struct StateRows {
    current: AtomicI64,
    peak: AtomicI64,
}

impl StateRows {
    /// Records that an operator's state changed by `delta` rows.
    pub fn add(&self, delta: i64) {
        if delta != 0 {
            let now = self.current.fetch_add(delta, Ordering::Relaxed) + delta;
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Rows held now.
    pub fn current(&self) -> i64 {
        self.current.load(Ordering::Relaxed)
    }

    /// The most rows held at once so far (as operators reported after each activation).
    pub fn peak(&self) -> i64 {
        self.peak.load(Ordering::Relaxed)
    }
}
