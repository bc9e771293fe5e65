//! Updates held until the frontier passes their time, and the capability that covers them.

use std::collections::VecDeque;
use std::collections::vec_deque::Drain;

use timely::dataflow::operators::Capability;

use super::Time;

/// Items waiting for their time to become complete. A queue: items taken from the front leave
/// the rest in place (input runs ahead of the frontier, so most items stay for a while).
pub(crate) struct TimeBuffer<T> {
    items: VecDeque<(Time, T)>,
    sorted: bool,
}

impl<T> Default for TimeBuffer<T> {
    fn default() -> Self {
        TimeBuffer { items: VecDeque::new(), sorted: true }
    }
}

impl<T> TimeBuffer<T> {
    pub(crate) fn push(&mut self, time: Time, item: T) {
        if self.items.back().is_some_and(|(last, _)| *last > time) {
            self.sorted = false;
        }
        self.items.push_back((time, item));
    }

    /// The least pending time.
    pub(crate) fn min_time(&mut self) -> Option<Time> {
        self.sort();
        self.items.front().map(|(t, _)| *t)
    }

    fn sort(&mut self) {
        if !self.sorted {
            // Order within a time does not matter to any operator.
            self.items.make_contiguous().sort_unstable_by_key(|(t, _)| *t);
            self.sorted = true;
        }
    }

    /// Removes, in time order, every item with time `< frontier` (all of them when the
    /// frontier is empty). The items are moved out as the caller reads them, not copied into a
    /// vector first (an epoch's worth of them would no longer be in cache by the time it is
    /// read); those left unread are dropped with the iterator.
    pub(crate) fn take_before(&mut self, frontier: Option<Time>) -> Drain<'_, (Time, T)> {
        self.sort();
        let end = match frontier {
            None => self.items.len(),
            Some(f) => self.items.partition_point(|(t, _)| *t < f),
        };
        self.items.drain(..end)
    }
}

/// Keeps one capability at or below every time the operator may still emit at.
pub(crate) struct HeldCapability(Option<Capability<Time>>);

impl HeldCapability {
    pub(crate) fn new() -> Self {
        HeldCapability(None)
    }

    /// Keeps `cap` if it is earlier than the one held.
    pub(crate) fn merge(&mut self, cap: Capability<Time>) {
        match &self.0 {
            Some(held) if held.time() <= cap.time() => {}
            _ => self.0 = Some(cap),
        }
    }

    pub(crate) fn get(&self) -> Option<&Capability<Time>> {
        self.0.as_ref()
    }

    /// Moves the capability to `next` (the least time still to emit at), or drops it.
    pub(crate) fn settle(&mut self, next: Option<Time>) {
        match (next, &mut self.0) {
            (Some(time), Some(cap)) => {
                if *cap.time() < time {
                    cap.downgrade(&time);
                }
            }
            (None, _) => self.0 = None,
            (Some(_), None) => {}
        }
    }
}
