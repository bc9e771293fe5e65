//! The first error of a job, shared by its workers and operators.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where operators report a failure that must stop the job (a guest trap, a bad guest batch).
/// Operators stop doing work once it is set; the driver loop checks it and ends the job.
#[derive(Clone, Default)]
pub struct Failure {
    set: Arc<AtomicBool>,
    first: Arc<Mutex<Option<String>>>,
}

impl Failure {
    /// Records `error` unless an earlier error was recorded.
    pub fn fail(&self, error: impl std::fmt::Display) {
        let mut first = self.first.lock().expect("failure lock");
        if first.is_none() {
            *first = Some(error.to_string());
        }
        self.set.store(true, Ordering::Release);
    }

    /// Whether a failure was recorded.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// The first recorded failure.
    pub fn message(&self) -> Option<String> {
        self.first.lock().expect("failure lock").clone()
    }
}
