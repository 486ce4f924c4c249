//! The sandbox clock: system time plus an offset that only moves forward.
//!
//! Expiry is judged on this clock, so a test (in this process through [`crate::SandboxState::advance`], or in
//! another through `POST /sandbox/clock`) skips five minutes instantly instead of sleeping. Delays injected by
//! faults use real time, because they exist to trip a client's real timeout.
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        Utc::now()
            .checked_add_signed(offset)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    pub(crate) fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        // Saturating: a test asking for "forever" must not wrap the clock into the past.
        let _ = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ms))
            });
    }

    pub(crate) fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::Relaxed).max(0).unsigned_abs())
    }

    pub(crate) fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

/// The calendar day in Asia/Shanghai (UTC+8, no daylight saving), the day WeChat's quotas are counted in.
pub(crate) fn shanghai_day(t: DateTime<Utc>) -> NaiveDate {
    identity::china_date(t)
}

pub(crate) fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whole seconds left until `until`, never negative (what `expires_in` reports).
pub(crate) fn secs_left(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_seconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_day_turns_at_midnight_in_shanghai_not_utc() {
        let before = DateTime::parse_from_rfc3339("2024-03-01T15:59:59Z")
            .unwrap()
            .to_utc();
        let after_midnight = DateTime::parse_from_rfc3339("2024-03-01T16:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            shanghai_day(before),
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        );
        assert_eq!(
            shanghai_day(after_midnight),
            NaiveDate::from_ymd_opt(2024, 3, 2).unwrap()
        );
    }

    #[test]
    fn advance_moves_now_forward() {
        let c = Clock::default();
        let t0 = c.now();
        c.advance(Duration::from_secs(3600));
        assert!(c.now() - t0 >= chrono::Duration::seconds(3600));
        c.reset();
        assert!(c.now() - t0 < chrono::Duration::seconds(60));
    }
}
