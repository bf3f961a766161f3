//! A budget for log lines that outsiders can cause (refused requests, replayed checkpoints):
//! whoever can reach a port must not be able to flood the log, and the disk under it, by
//! repeating a refused request. Lines over the budget are counted and reported with the
//! first event of a later window (a flood that stops is summarised only by the next event;
//! metrics count every event as it happens).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `per_window` lines per one-second window. Cheap enough for every event: one
/// uncontended lock.
#[derive(Debug)]
pub struct LineBudget {
    per_window: u32,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Option<Instant>,
    used: u32,
    suppressed: u64,
}

/// What to do with one event's line.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Log this event's line.
    pub log: bool,
    /// Lines suppressed in the windows before this one, to report (once) now.
    pub suppressed_before: u64,
}

impl LineBudget {
    pub const fn new(per_window: u32) -> Self {
        LineBudget {
            per_window,
            window: Mutex::new(Window {
                start: None,
                used: 0,
                suppressed: 0,
            }),
        }
    }

    /// Decides one event's line, now.
    pub fn admit(&self) -> Verdict {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Verdict {
        // A panic elsewhere cannot leave a half-updated window worse than a miscount.
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let mut suppressed_before = 0;
        let expired = w
            .start
            .is_none_or(|start| now.saturating_duration_since(start) >= Duration::from_secs(1));
        if expired {
            w.start = Some(now);
            w.used = 0;
            suppressed_before = std::mem::take(&mut w.suppressed);
        }
        let log = w.used < self.per_window;
        if log {
            w.used += 1;
        } else {
            w.suppressed += 1;
        }
        Verdict {
            log,
            suppressed_before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_over_the_budget_are_dropped_and_summarised_once() {
        let budget = LineBudget::new(3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| budget.admit_at(t0).log));
        // Over the budget within the second: counted, not logged.
        for i in 0..5 {
            let v = budget.admit_at(t0 + Duration::from_millis(100 * i));
            assert_eq!(
                v,
                Verdict {
                    log: false,
                    suppressed_before: 0
                }
            );
        }
        // The next window logs again and reports what the last one dropped, once.
        let next = t0 + Duration::from_secs(1);
        assert_eq!(
            budget.admit_at(next),
            Verdict {
                log: true,
                suppressed_before: 5
            }
        );
        assert_eq!(budget.admit_at(next).suppressed_before, 0);
    }
}
