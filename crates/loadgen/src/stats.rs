//! Latency recording: every sample kept (a run is at most a few million requests), plus a
//! window the progress line drains each second.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl LatencySummary {
    /// Nearest-rank percentiles of `micros` (sorted in place).
    pub fn of(micros: &mut [u32]) -> LatencySummary {
        if micros.is_empty() {
            return LatencySummary::default();
        }
        micros.sort_unstable();
        let at = |p: f64| {
            let rank = ((p * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            f64::from(micros[rank - 1]) / 1000.0
        };
        LatencySummary {
            count: micros.len() as u64,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// All samples; with [`Recorder::windowed`], also the window since the last
/// [`Recorder::take_recent`] (only for a recorder whose window someone drains: the samples
/// would pile up twice otherwise).
#[derive(Default)]
pub struct Recorder {
    all: Mutex<Vec<u32>>,
    recent: Option<Mutex<Vec<u32>>>,
}

impl Recorder {
    pub fn windowed() -> Self {
        Recorder {
            all: Mutex::default(),
            recent: Some(Mutex::default()),
        }
    }

    pub fn record(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u32::MAX)) as u32;
        self.all.lock().unwrap().push(us);
        if let Some(recent) = &self.recent {
            recent.lock().unwrap().push(us);
        }
    }

    /// Percentiles of the samples since the last call.
    pub fn take_recent(&self) -> LatencySummary {
        let Some(recent) = &self.recent else {
            return LatencySummary::default();
        };
        let mut recent = std::mem::take(&mut *recent.lock().unwrap());
        LatencySummary::of(&mut recent)
    }

    pub fn summary(&self) -> LatencySummary {
        let mut all = self.all.lock().unwrap().clone();
        LatencySummary::of(&mut all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=100).rev().map(|ms| ms * 1000).collect();
        let s = LatencySummary::of(&mut v);
        assert_eq!(
            (s.count, s.p50, s.p90, s.p99, s.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(LatencySummary::of(&mut []), LatencySummary::default());
        let mut one = vec![1500];
        assert_eq!(LatencySummary::of(&mut one).p99, 1.5);
    }

    #[test]
    fn recent_window_drains() {
        let r = Recorder::windowed();
        r.record(Duration::from_millis(2));
        r.record(Duration::from_millis(4));
        assert_eq!(r.take_recent().count, 2);
        assert_eq!(r.take_recent().count, 0);
        assert_eq!(r.summary().count, 2);
        // Without a window, nothing is kept twice.
        let plain = Recorder::default();
        plain.record(Duration::from_millis(2));
        assert_eq!(plain.take_recent().count, 0);
        assert_eq!(plain.summary().count, 1);
    }
}
