//! The watermark of one source: how far its event time has certainly progressed.
//!
//! The rules (DESIGN.md, "Watermarks and late data"):
//! - each partition remembers the greatest event time it has delivered;
//! - the watermark `W` is the least of those over the source's partitions, minus `disorder`,
//!   and never moves back;
//! - a row whose time is `< W` when it arrives is late: it is not applied;
//! - a partition that has delivered nothing for `idleness` stops holding `W` back; when every
//!   partition is idle, `W` moves on at wall-clock speed from where the newest row left it:
//!   `newest - disorder + (now - last arrival - idleness)`. It never jumps to the wall clock, so
//!   replaying old data with pauses stays meaningful.
//!
//! A row is checked against `W` as it stands when the row arrives, with every earlier row of the
//! source (in arrival order) already counted, so a replay of the source's log in its stored
//! order drops exactly the rows that live processing dropped.

use std::time::{Duration, Instant};

use crate::connector::WatermarkPolicy;
use crate::dataflow::Time;

#[derive(Clone, Debug)]
struct PartitionClock {
    newest: Time,
    last_arrival: Instant,
    idle: bool,
}

/// A source's watermark.
#[derive(Clone, Debug)]
pub struct Watermark {
    policy: WatermarkPolicy,
    partitions: Vec<PartitionClock>,
    current: Time,
}

/// A row that arrived behind the watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Late {
    /// The watermark it was behind.
    pub watermark: Time,
}

impl Watermark {
    /// A watermark over `partitions` partitions that have delivered nothing yet, as of `now`.
    pub fn new(policy: WatermarkPolicy, partitions: usize, now: Instant) -> Watermark {
        let clock = PartitionClock { newest: Time::MIN, last_arrival: now, idle: false };
        Watermark { policy, partitions: vec![clock; partitions.max(1)], current: Time::MIN }
    }

    /// The current watermark: every row still to be applied has a time `>=` it.
    pub fn current(&self) -> Time {
        self.current
    }

    /// The number of partitions.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Accounts for a row of `partition` at `time`, or rejects it as late.
    pub fn observe(&mut self, partition: usize, time: Time) -> Result<(), Late> {
        if time < self.current {
            return Err(Late { watermark: self.current });
        }
        let clock = &mut self.partitions[partition];
        let woke = std::mem::replace(&mut clock.idle, false);
        if time > clock.newest {
            let was_least = clock.newest;
            clock.newest = time;
            // Only the least partition's progress (or a partition rejoining) can move `W`.
            if woke || was_least <= self.least_active().unwrap_or(Time::MAX) {
                self.recompute();
            }
        }
        Ok(())
    }

    /// Records that `partition` delivered input at `now` (once per batch is enough).
    pub fn touch(&mut self, partition: usize, now: Instant) {
        let clock = &mut self.partitions[partition];
        clock.last_arrival = now;
        clock.idle = false;
    }

    /// Re-evaluates idleness at `now` and returns the watermark.
    pub fn tick(&mut self, now: Instant) -> Time {
        let Some(idleness) = self.policy.idleness else {
            return self.current;
        };
        for clock in &mut self.partitions {
            clock.idle = now.saturating_duration_since(clock.last_arrival) >= idleness;
        }
        if self.partitions.iter().all(|c| c.idle) {
            let newest = self.partitions.iter().map(|c| c.newest).max().unwrap_or(Time::MIN);
            let last = self.partitions.iter().map(|c| c.last_arrival).max().unwrap_or(now);
            if newest > Time::MIN {
                let quiet = now.saturating_duration_since(last).saturating_sub(idleness);
                let advanced =
                    newest.saturating_sub(self.policy.disorder).saturating_add(duration_millis(quiet));
                self.current = self.current.max(advanced);
            }
        } else {
            self.recompute();
        }
        self.current
    }

    fn least_active(&self) -> Option<Time> {
        self.partitions.iter().filter(|c| !c.idle).map(|c| c.newest).min()
    }

    fn recompute(&mut self) {
        if let Some(least) = self.least_active() {
            self.current = self.current.max(least.saturating_sub(self.policy.disorder));
        }
    }
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(disorder: i64, idleness: Option<u64>) -> WatermarkPolicy {
        WatermarkPolicy { disorder, idleness: idleness.map(Duration::from_millis) }
    }

    #[test]
    fn watermark_trails_the_newest_time_by_the_disorder() {
        let mut w = Watermark::new(policy(10, None), 1, Instant::now());
        assert_eq!(w.current(), Time::MIN);
        w.observe(0, 100).unwrap();
        assert_eq!(w.current(), 90);
        w.observe(0, 95).unwrap();
        assert_eq!(w.current(), 90, "an older row does not move it");
        w.observe(0, 90).unwrap();
        assert_eq!(w.observe(0, 89), Err(Late { watermark: 90 }));
    }

    #[test]
    fn the_least_partition_holds_the_watermark() {
        let mut w = Watermark::new(policy(0, None), 2, Instant::now());
        w.observe(0, 100).unwrap();
        assert_eq!(w.current(), Time::MIN, "partition 1 has delivered nothing");
        w.observe(1, 40).unwrap();
        assert_eq!(w.current(), 40);
        w.observe(1, 200).unwrap();
        assert_eq!(w.current(), 100);
        assert!(w.observe(1, 99).is_err());
        w.observe(0, 100).unwrap();
    }

    #[test]
    fn idle_partitions_stop_holding_the_watermark() {
        let start = Instant::now();
        let mut w = Watermark::new(policy(0, Some(1000)), 2, start);
        w.observe(0, 500).unwrap();
        w.touch(0, start + Duration::from_millis(900));
        // Partition 1 never delivered and has been quiet for the idleness: it is ignored.
        assert_eq!(w.tick(start + Duration::from_millis(1000)), 500);
    }

    #[test]
    fn an_idle_source_advances_at_wall_clock_speed() {
        let start = Instant::now();
        let mut w = Watermark::new(policy(100, Some(1000)), 1, start);
        w.observe(0, 10_000).unwrap();
        w.touch(0, start);
        assert_eq!(w.tick(start + Duration::from_millis(999)), 9_900);
        assert_eq!(w.tick(start + Duration::from_millis(1_000)), 9_900);
        assert_eq!(w.tick(start + Duration::from_millis(3_500)), 12_400);
        assert!(w.observe(0, 12_399).is_err(), "rows behind the advanced watermark are late");
    }

    #[test]
    fn idleness_off_never_advances_without_input() {
        let start = Instant::now();
        let mut w = Watermark::new(policy(0, None), 1, start);
        w.observe(0, 7).unwrap();
        assert_eq!(w.tick(start + Duration::from_secs(3600)), 7);
    }
}
