//! The allocator's memory policy for batch jobs.
//!
//! Volga's binaries allocate with mimalloc, which by default returns freed memory to the OS a
//! second after it is freed ("purging"). An offline job allocates millions of short-lived rows;
//! purged memory is soon touched again, and the kernel zeroes every page anew (a 2 MiB page at a
//! time where mimalloc asked for huge pages): a sixth of an offline job's samples were
//! `clear_page_erms` (bench/RESULTS.md). Batch jobs therefore keep what they free until they
//! end; a server keeps the default, so its memory shrinks after a burst.
//!
//! Volga's processes also fault their memory in as ordinary pages, not transparent huge pages
//! ([`use_ordinary_pages`], first thing in `main`). mimalloc asks for huge pages, and where the
//! kernel must first compact memory to find them (a machine whose memory is full of page cache,
//! as after reading sources), every fault of a 2 MiB page waits for it: reading 10M orders into
//! a fresh process took 5.9-6.4 s with huge pages and 2.9-3.0 s without (system time 6.9-7.5 s
//! -> 1.7 s; the whole job 17.1-18.4 s -> 14.0-14.6 s), and HTTP ingest of 1M orders went
//! 442-453k -> 496-548k events/s in paired runs.

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

/// Turns transparent huge pages off for this process: later faults, in any mapping, take
/// ordinary pages (module docs). Best effort: a kernel without the call keeps its policy.
pub fn use_ordinary_pages() {
    set_huge_pages_off(true);
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

/// Whether transparent huge pages are off for this process (`PR_GET_THP_DISABLE`).
#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code)]
fn huge_pages_off() -> bool {
    // SAFETY: a query without pointers; it returns the flag, or -1 where unsupported.
    unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1 }
}

/// Sets `PR_SET_THP_DISABLE`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_huge_pages_off(off: bool) {
    // SAFETY: sets a flag of the calling process; no pointers.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, libc::c_ulong::from(off), 0, 0, 0) };
}

#[cfg(not(target_os = "linux"))]
fn set_huge_pages_off(_off: bool) {}

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

    #[test]
    fn ordinary_pages_turn_huge_pages_off_for_the_process() {
        use_ordinary_pages();
        #[cfg(target_os = "linux")]
        assert!(huge_pages_off());
    }
}
