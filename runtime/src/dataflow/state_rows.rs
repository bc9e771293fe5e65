//! How many input rows the stateful operators of a job hold, and how many bytes that state
//! takes, now and at most: windows keep the rows still counting (or waiting to), so this
//! measures that state stays bounded by them.

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
}
