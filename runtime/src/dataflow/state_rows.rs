//! How many input rows the stateful operators of a job hold, and how many bytes that state
//! takes, now and at most: windows keep the rows still counting (or waiting to), so this
//! measures that state stays bounded by them.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Rows (and their bytes) held in operator state across the workers of a job.
#[derive(Debug, Default)]
pub struct StateRows {
    current: AtomicI64,
    peak: AtomicI64,
    bytes: AtomicI64,
    peak_bytes: AtomicI64,
}

impl StateRows {
    /// Records that an operator's state changed by `delta` rows and `bytes` bytes.
    pub fn add(&self, delta: i64, bytes: i64) {
        if delta != 0 {
            let now = self.current.fetch_add(delta, Ordering::Relaxed) + delta;
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        if bytes != 0 {
            let now = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
            self.peak_bytes.fetch_max(now, Ordering::Relaxed);
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

    /// Bytes of state held now: the windows' queues (by capacity), the values they keep, and
    /// each key's fixed state. Strings shared with other rows are not counted.
    pub fn bytes(&self) -> i64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The most bytes held at once so far.
    pub fn peak_bytes(&self) -> i64 {
        self.peak_bytes.load(Ordering::Relaxed)
    }
}

/// What one operator reported to a [`StateRows`]; taken back when the operator is dropped, so
/// a finished job or stopped pipeline holds nothing.
#[derive(Debug)]
pub struct Reported {
    state_rows: Arc<StateRows>,
    rows: i64,
    bytes: i64,
}

impl Reported {
    /// Nothing reported yet.
    pub fn new(state_rows: Arc<StateRows>) -> Self {
        Reported { state_rows, rows: 0, bytes: 0 }
    }

    /// The operator now holds `rows` rows in `bytes` bytes.
    pub fn set(&mut self, rows: i64, bytes: i64) {
        self.state_rows.add(rows - self.rows, bytes - self.bytes);
        self.rows = rows;
        self.bytes = bytes;
    }
}

impl Drop for Reported {
    fn drop(&mut self) {
        self.set(0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_are_the_most_held_at_once() {
        let state = StateRows::default();
        state.add(10, 640);
        state.add(-4, -256);
        state.add(2, 128);
        assert_eq!((state.current(), state.peak()), (8, 10));
        assert_eq!((state.bytes(), state.peak_bytes()), (512, 640));
    }

    #[test]
    fn an_operator_takes_back_what_it_reported_when_dropped() {
        let state = Arc::new(StateRows::default());
        let mut first = Reported::new(state.clone());
        let mut second = Reported::new(state.clone());
        first.set(3, 300);
        second.set(2, 100);
        first.set(1, 400);
        assert_eq!((state.current(), state.bytes()), (3, 500));
        drop(first);
        assert_eq!((state.current(), state.bytes()), (2, 100));
        drop(second);
        assert_eq!((state.current(), state.bytes(), state.peak(), state.peak_bytes()), (0, 0, 5, 500));
    }
}
