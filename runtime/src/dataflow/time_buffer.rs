//! Updates held until the frontier passes their time, and the capability that covers them.

use std::collections::VecDeque;

use timely::dataflow::operators::Capability;

use super::Time;
use crate::value::{PREFETCH_AHEAD, Row, prefetch_row};

/// An item whose row is worth fetching into the cache a few items before it is read: held
/// items are read once their time is complete, long after they arrived.
pub(crate) trait Prefetch {
    fn prefetch(&self);
}

impl Prefetch for Row {
    fn prefetch(&self) {
        prefetch_row(self);
    }
}

impl Prefetch for (Row, isize) {
    fn prefetch(&self) {
        prefetch_row(&self.0);
    }
}

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
            // The items are runs in time order (the sorted items left from before, then each
            // batch of each worker sending them), which a stable sort merges rather than sorts
            // anew. Order within a time does not matter to any operator.
            self.items.make_contiguous().sort_by_key(|(t, _)| *t);
            self.sorted = true;
        }
    }
}

impl<T: Prefetch> TimeBuffer<T> {
    /// Removes, in time order, every item with time `< frontier` (all of them when the
    /// frontier is empty). The items are moved out as the caller reads them, not copied into a
    /// vector first (an epoch's worth of them would no longer be in cache by the time it is
    /// read), each item's row fetched into the cache a few items ahead; those left unread are
    /// dropped with the iterator.
    pub(crate) fn take_before(&mut self, frontier: Option<Time>) -> Taken<'_, T> {
        self.sort();
        let end = match frontier {
            None => self.items.len(),
            Some(f) => self.items.partition_point(|(t, _)| *t < f),
        };
        Taken { items: &mut self.items, left: end }
    }
}

/// The items [`TimeBuffer::take_before`] removes, front first.
pub(crate) struct Taken<'a, T: Prefetch> {
    items: &'a mut VecDeque<(Time, T)>,
    left: usize,
}

impl<T: Prefetch> Iterator for Taken<'_, T> {
    type Item = (Time, T);

    fn next(&mut self) -> Option<(Time, T)> {
        if self.left == 0 {
            return None;
        }
        if self.left > PREFETCH_AHEAD
            && let Some((_, ahead)) = self.items.get(PREFETCH_AHEAD)
        {
            ahead.prefetch();
        }
        self.left -= 1;
        self.items.pop_front()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T: Prefetch> ExactSizeIterator for Taken<'_, T> {}

impl<T: Prefetch> Drop for Taken<'_, T> {
    fn drop(&mut self) {
        self.items.drain(..self.left);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn buffer(times: &[Time]) -> TimeBuffer<Row> {
        let mut buffer = TimeBuffer::default();
        for &time in times {
            buffer.push(time, vec![Value::Int(time), Value::str("row")]);
        }
        buffer
    }

    #[test]
    fn taking_before_a_frontier_yields_the_earlier_items_in_time_order_and_keeps_the_rest() {
        let mut held = buffer(&[5, 1, 9, 3, 7, 2, 8, 4, 6, 0]);
        let taken: Vec<Time> = held
            .take_before(Some(6))
            .map(|(t, row)| {
                assert_eq!(row[0], Value::Int(t));
                t
            })
            .collect();
        assert_eq!(taken, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(held.min_time(), Some(6));
        let rest: Vec<Time> = held.take_before(None).map(|(t, _)| t).collect();
        assert_eq!(rest, vec![6, 7, 8, 9]);
        assert_eq!(held.min_time(), None);
    }

    #[test]
    fn items_taken_but_left_unread_are_gone_with_the_iterator() {
        let mut held = buffer(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut taken = held.take_before(Some(7));
        assert_eq!(taken.len(), 6);
        assert_eq!(taken.next().map(|(t, _)| t), Some(1));
        drop(taken);
        assert_eq!(held.take_before(None).map(|(t, _)| t).collect::<Vec<_>>(), vec![7, 8]);
    }
}
