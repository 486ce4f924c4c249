//! Rate limits: fixed windows counted per bucket. A call is counted before it is made ([`Limiter::hit`], which
//! never lets two concurrent calls pass the limit together) and given back ([`Limiter::give_back`]) when it
//! provably did not happen, so that a limit can count only the calls that were really made.
//!
//! A crate of its own so that the in-memory counters (here) and the Redis ones (`redis-state`) share one trait
//! and one notion of a window without either depending on the database crates.
//!
//! The [`Limiter`] trait lets several instances share counters (a Redis implementation); the in-memory one
//! here serves a single instance.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A "day" for per-day limits is a calendar day in Asia/Shanghai: it starts at 16:00 UTC.
const CHINA_OFFSET_SECS: u64 = identity::CHINA_UTC_OFFSET_SECS as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Second,
    /// A calendar day in Asia/Shanghai.
    Day,
}

impl Window {
    /// A short name for keys: `s` or `d`.
    pub fn name(self) -> &'static str {
        match self {
            Window::Second => "s",
            Window::Day => "d",
        }
    }

    /// The window of this kind that holds `now`. Every limiter counts by this, so instances agree on windows.
    pub fn locate(self, now: SystemTime) -> WindowAt {
        let t = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        match self {
            Window::Second => WindowAt {
                number: t.as_secs(),
                secs_left: 1,
            },
            Window::Day => {
                let local = t.as_secs() + CHINA_OFFSET_SECS;
                WindowAt {
                    number: local / 86_400,
                    secs_left: 86_400 - local % 86_400,
                }
            }
        }
    }
}

/// The window of a [`Window`] kind that holds an instant: which one (counted from the epoch), and how long until
/// it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowAt {
    pub number: u64,
    pub secs_left: u64,
}

impl WindowAt {
    /// The refusal of a call over the limit in this window: try again once it ends (never sooner than a second).
    pub fn denied(self) -> Decision {
        Decision::Denied {
            retry_after_secs: self.secs_left.max(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied { retry_after_secs: u64 },
}

#[derive(Debug, thiserror::Error)]
#[error("rate-limit counters unavailable: {0}")]
pub struct LimitError(pub String);

#[async_trait]
pub trait Limiter: Send + Sync + std::fmt::Debug {
    /// Count one call in `bucket` unless that would pass `limit` in the current window.
    async fn hit(
        &self,
        bucket: &str,
        limit: u32,
        window: Window,
        now: SystemTime,
    ) -> Result<Decision, LimitError>;

    /// Give back one call that [`hit`](Self::hit) counted in `bucket` at `counted_at` (pass the same instant, so
    /// that the same window is found): the call it allowed did not happen. Never below zero.
    async fn give_back(
        &self,
        bucket: &str,
        window: Window,
        counted_at: SystemTime,
    ) -> Result<(), LimitError>;

    /// The calls counted in `bucket` in the window that holds `now`.
    async fn used(&self, bucket: &str, window: Window, now: SystemTime) -> Result<u32, LimitError>;
}

#[derive(Debug, Default)]
pub struct MemoryLimiter {
    counts: Mutex<HashMap<(String, Window, u64), u32>>,
}

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn hit(
        &self,
        bucket: &str,
        limit: u32,
        window: Window,
        now: SystemTime,
    ) -> Result<Decision, LimitError> {
        let slot = window.locate(now);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            // Forget finished windows; cheap enough at this size and bounded memory under any load.
            let sec = Window::Second.locate(now).number;
            let day = Window::Day.locate(now).number;
            counts.retain(|(_, w, k), _| match w {
                Window::Second => *k >= sec,
                Window::Day => *k >= day,
            });
        }
        let c = counts
            .entry((bucket.to_owned(), window, slot.number))
            .or_insert(0);
        if *c >= limit {
            return Ok(slot.denied());
        }
        *c += 1;
        Ok(Decision::Allowed)
    }

    async fn give_back(
        &self,
        bucket: &str,
        window: Window,
        counted_at: SystemTime,
    ) -> Result<(), LimitError> {
        let n = window.locate(counted_at).number;
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = counts.get_mut(&(bucket.to_owned(), window, n)) {
            *c = c.saturating_sub(1);
        }
        Ok(())
    }

    async fn used(&self, bucket: &str, window: Window, now: SystemTime) -> Result<u32, LimitError> {
        let n = window.locate(now).number;
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        Ok(counts
            .get(&(bucket.to_owned(), window, n))
            .copied()
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn counts_to_the_limit_then_denies_until_the_window_ends() {
        let l = MemoryLimiter::default();
        for _ in 0..3 {
            assert_eq!(
                l.hit("k", 3, Window::Second, at(100)).await.unwrap(),
                Decision::Allowed
            );
        }
        assert_eq!(
            l.hit("k", 3, Window::Second, at(100)).await.unwrap(),
            Decision::Denied {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            l.hit("other", 3, Window::Second, at(100)).await.unwrap(),
            Decision::Allowed
        );
        assert_eq!(
            l.hit("k", 3, Window::Second, at(101)).await.unwrap(),
            Decision::Allowed
        );
    }

    #[tokio::test]
    async fn a_call_given_back_frees_its_place_in_its_own_window() {
        let l = MemoryLimiter::default();
        assert_eq!(
            l.hit("u", 1, Window::Day, at(100)).await.unwrap(),
            Decision::Allowed
        );
        assert!(matches!(
            l.hit("u", 1, Window::Day, at(100)).await.unwrap(),
            Decision::Denied { .. }
        ));
        l.give_back("u", Window::Day, at(100)).await.unwrap();
        assert_eq!(l.used("u", Window::Day, at(100)).await.unwrap(), 0);
        assert_eq!(
            l.hit("u", 1, Window::Day, at(100)).await.unwrap(),
            Decision::Allowed
        );
        // Never below zero, and a give-back for yesterday leaves today alone.
        l.give_back("u", Window::Day, at(100)).await.unwrap();
        l.give_back("u", Window::Day, at(100)).await.unwrap();
        assert_eq!(l.used("u", Window::Day, at(100)).await.unwrap(), 0);
        let tomorrow = at(100 + 86_400);
        assert_eq!(
            l.hit("u", 1, Window::Day, tomorrow).await.unwrap(),
            Decision::Allowed
        );
        l.give_back("u", Window::Day, at(100)).await.unwrap();
        assert_eq!(l.used("u", Window::Day, tomorrow).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn days_turn_at_midnight_in_shanghai() {
        let l = MemoryLimiter::default();
        // 2026-01-01 15:59:59 UTC is 23:59:59 in Shanghai.
        let before = 1_767_283_199;
        assert_eq!(
            l.hit("u", 1, Window::Day, at(before)).await.unwrap(),
            Decision::Allowed
        );
        assert_eq!(
            l.hit("u", 1, Window::Day, at(before)).await.unwrap(),
            Decision::Denied {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            l.hit("u", 1, Window::Day, at(before + 1)).await.unwrap(),
            Decision::Allowed
        );
    }
}
