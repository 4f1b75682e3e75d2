//! How many writes a group holds: about [`GROUP_WORK`] of work, at the recent cost per
//! write.

use std::time::Duration;

/// A group is committed after this many writes even if more are waiting, so that the
/// first writers of a long burst are not kept waiting for the last.
pub(super) const GROUP_MAX_WRITES: usize = 64;

/// Fewer than this many writes per group would pay a commit's fixed cost too often.
const GROUP_MIN_WRITES: usize = 4;

/// A group holds about this much work (at the writer's recent cost per write), then
/// commits even if more writes are waiting. Committing a burst as one long group left the
/// writer idle while its fsync ran and its callers sent their next requests (all of them
/// waited on the same fsync): under `vs_ceiling.sh`'s 32 connections the writer was busy
/// 73 % of the time. Groups of about 2 ms let one group's fsync and the answers to its
/// callers overlap the next group's work: 7,500 -> 9,300 req/s in the same run (sizes of
/// 8, 12, 16, 20, 24 and 64 writes measured; 16-20 best at ~100 µs per write). The
/// syncer's fsync covers every group committed before it starts, so smaller groups do
/// not mean more fsyncs on a slow disk.
pub(super) const GROUP_WORK: Duration = Duration::from_millis(2);

/// How many writes the next group may hold: [`GROUP_WORK`] at the recent cost per write.
pub(super) struct GroupSizer {
    /// Moving average of a write's share of its group's time, commit included.
    per_write: Duration,
}

impl Default for GroupSizer {
    fn default() -> Self {
        GroupSizer {
            per_write: GROUP_WORK / 16,
        }
    }
}

impl GroupSizer {
    pub(super) fn room(&self) -> usize {
        let per_write = self.per_write.as_nanos().max(1);
        let fits = (GROUP_WORK.as_nanos() + per_write / 2) / per_write;
        usize::try_from(fits)
            .unwrap_or(usize::MAX)
            .clamp(GROUP_MIN_WRITES, GROUP_MAX_WRITES)
    }

    /// Counts a group of `writes` that took `took`; each group weighs an eighth.
    pub(super) fn record(&mut self, writes: usize, took: Duration) {
        let Ok(writes) = u32::try_from(writes) else {
            return;
        };
        if writes == 0 {
            return;
        }
        // A group that waited for another process's lock says nothing of a write's cost.
        let sample = (took / writes).min(GROUP_WORK);
        self.per_write = (self.per_write * 7 + sample) / 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_holds_about_its_work_budget_of_writes() {
        let mut sizer = GroupSizer::default();
        assert_eq!(
            sizer.room(),
            16,
            "no measurement yet: a sixteenth of the budget each"
        );
        // Writes of 100 µs, many groups: 2 ms of them is 20.
        for _ in 0..100 {
            sizer.record(10, Duration::from_millis(1));
        }
        assert_eq!(sizer.room(), 20);
        // Cheap writes fill the largest group; costly ones the smallest.
        for _ in 0..100 {
            sizer.record(50, Duration::from_micros(500));
        }
        assert_eq!(sizer.room(), GROUP_MAX_WRITES);
        for _ in 0..100 {
            sizer.record(2, Duration::from_millis(3));
        }
        assert_eq!(sizer.room(), GROUP_MIN_WRITES);
    }

    #[test]
    fn a_long_wait_for_the_lock_does_not_shrink_groups_for_long() {
        let mut sizer = GroupSizer::default();
        for _ in 0..100 {
            sizer.record(10, Duration::from_millis(1));
        }
        // One group waited 5 s for another process's lock.
        sizer.record(20, Duration::from_secs(5));
        // Counted as at most the budget per write, and weighing an eighth.
        assert_eq!(sizer.room(), 6);
        for _ in 0..60 {
            sizer.record(10, Duration::from_millis(1));
        }
        assert_eq!(sizer.room(), 20, "back to the measured cost");
        // An empty group (all failed before running) changes nothing.
        sizer.record(0, Duration::from_secs(1));
        assert_eq!(sizer.room(), 20);
    }
}
