//! The allocator's memory policy for batch jobs.
//!
//! Volga's binaries allocate with mimalloc, which by default returns freed memory to the OS a
//! second after it is freed ("purging"). An offline job allocates millions of short-lived rows;
//! purged memory is soon touched again, and the kernel zeroes every page anew (a 2 MiB page at a
//! time where mimalloc asked for huge pages): a sixth of an offline job's samples were
//! `clear_page_erms` (bench/RESULTS.md). Batch jobs therefore keep what they free until they
//! end; a server keeps the default, so its memory shrinks after a burst.

use std::ffi::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (the -sys crate names only the options
/// of older versions); a unit test checks it reads that option's default.
const PURGE_DELAY: mi_option_t = 15;

/// Keeps freed memory in the process until the returned guard is dropped, which restores the
/// previous policy.
#[must_use = "the policy lasts as long as the guard"]
pub fn keep_freed_memory() -> KeepFreedMemory {
    let previous = purge_delay();
    set_purge_delay(-1);
    KeepFreedMemory { previous }
}

/// Restores the allocator's purge policy when dropped.
#[derive(Debug)]
pub struct KeepFreedMemory {
    previous: c_long,
}

impl Drop for KeepFreedMemory {
    fn drop(&mut self) {
        set_purge_delay(self.previous);
    }
}

#[allow(unsafe_code)]
fn purge_delay() -> c_long {
    // SAFETY: reads an option value; mimalloc initializes its options on first use.
    unsafe { mi_option_get(PURGE_DELAY) }
}

#[allow(unsafe_code)]
fn set_purge_delay(ms: c_long) {
    // SAFETY: stores an option value; any delay is valid (-1: never purge).
    unsafe { mi_option_set(PURGE_DELAY, ms) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_documents() {
        // mimalloc 3's default purge delay is 1000 ms (`src/options.c`), unless set from the
        // environment.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000);
        }
        {
            let _keep = keep_freed_memory();
            assert_eq!(purge_delay(), -1);
        }
        assert_ne!(purge_delay(), -1);
    }
}
