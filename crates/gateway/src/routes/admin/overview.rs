//! The admin console's numbers, computed from audit rows: outcomes per time bucket, WeChat's errcodes, rate-limit
//! rejections. Pure (rows and "now" in, a summary out) so it is tested without a server.
//!
//! Reading the newest rows and counting in memory keeps the `Store` trait as it is: the console looks at a
//! window of an hour or a day, and a capped read ([`super::MAX_ROWS`]) says when it saw only part of it.

use crate::state::rfc3339;
use serde::Serialize;
use std::collections::BTreeMap;
use store::AuditRecord;

/// The two views of the chart: the last hour by minute, or the last day by hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Hour,
    Day,
}

impl Window {
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("hour") => Some(Self::Hour),
            Some("day") => Some(Self::Day),
            Some(_) => None,
        }
    }

    fn bucket_ms(self) -> i64 {
        match self {
            Self::Hour => 60_000,
            Self::Day => 3_600_000,
        }
    }

    fn buckets(self) -> i64 {
        match self {
            Self::Hour => 60,
            Self::Day => 24,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    fn bucket_name(self) -> &'static str {
        match self {
            Self::Hour => "minute",
            Self::Day => "hour",
        }
    }
}

/// The series every bucket counts, in the chart's stacking order. `error`: the gateway answered with an error
/// code (refused by policy, or WeChat failed) instead of an outcome.
pub const SERIES: [&str; 6] = [
    "match",
    "id_mismatch",
    "name_mismatch",
    "not_verified",
    "unknown",
    "error",
];

#[derive(Debug, Serialize)]
pub struct Overview {
    pub window: &'static str,
    pub bucket: &'static str,
    pub bucket_secs: i64,
    pub from: String,
    pub to: String,
    pub series: [&'static str; 6],
    pub buckets: Vec<Bucket>,
    /// Rows in the window by outcome or `error`, and errors by gateway error code.
    pub totals: BTreeMap<&'static str, u64>,
    pub errors: BTreeMap<String, u64>,
    pub wechat: WeChatCalls,
    pub rate_limited: RateLimited,
    /// Rows in the window.
    pub rows: u64,
    /// The read hit its cap before reaching the window's start: older rows of the window are not counted.
    pub truncated: bool,
}

#[derive(Debug, Serialize)]
pub struct Bucket {
    pub start: String,
    pub counts: BTreeMap<&'static str, u64>,
}

/// The check calls that reached WeChat (or were sent and got no answer), by errcode.
#[derive(Debug, Serialize)]
pub struct WeChatCalls {
    pub calls: u64,
    /// `errcode` 0 is success; `null` a call that got no usable answer (timeout, dropped connection).
    pub errcodes: Vec<ErrcodeCount>,
    /// Share of calls that did not answer errcode 0.
    pub error_rate: f64,
}

#[derive(Debug, Serialize)]
pub struct ErrcodeCount {
    pub errcode: Option<i64>,
    pub description: &'static str,
    pub count: u64,
    pub rate: f64,
}

#[derive(Debug, Serialize)]
pub struct RateLimited {
    pub count: u64,
    /// The newest rejections (at most ten): when, which app and which openid hit the limit.
    pub recent: Vec<Rejection>,
}

#[derive(Debug, Serialize)]
pub struct Rejection {
    pub at: String,
    pub appid: String,
    pub openid: String,
    pub key_id: String,
}

fn series_of(r: &AuditRecord) -> &'static str {
    match r.entry.outcome.as_deref() {
        Some(o) => SERIES[..5]
            .iter()
            .find(|s| **s == o)
            .copied()
            .unwrap_or("unknown"),
        None => "error",
    }
}

/// A call that reached WeChat: it answered with an errcode, or the gateway sent it and got nothing usable back.
fn wechat_call(r: &AuditRecord) -> Option<Option<i64>> {
    match (r.entry.errcode, r.entry.error_code.as_deref()) {
        (Some(c), _) => Some(Some(c)),
        (None, Some("upstream_unavailable")) => Some(None),
        _ => None,
    }
}

fn ratio(n: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

/// Summarise `rows` (any order) over `window` ending at `now_ms`; `capped`: the read returned as many rows as
/// it was allowed to, so there may be older ones.
pub fn summarise(rows: &[AuditRecord], now_ms: i64, window: Window, capped: bool) -> Overview {
    let size = window.bucket_ms();
    let n = window.buckets();
    let end = (now_ms.div_euclid(size) + 1) * size;
    let start = end - n * size;
    let in_window: Vec<&AuditRecord> = rows
        .iter()
        .filter(|r| r.entry.at_ms >= start && r.entry.at_ms < end)
        .collect();
    let truncated = capped
        && rows
            .iter()
            .map(|r| r.entry.at_ms)
            .min()
            .is_some_and(|m| m > start);

    let mut buckets: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start: rfc3339(start + i * size),
            counts: SERIES.iter().map(|s| (*s, 0)).collect(),
        })
        .collect();
    let mut totals: BTreeMap<&'static str, u64> = SERIES.iter().map(|s| (*s, 0)).collect();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut errcodes: BTreeMap<Option<i64>, u64> = BTreeMap::new();
    let mut limited: Vec<&AuditRecord> = Vec::new();
    for r in &in_window {
        let s = series_of(r);
        let i = ((r.entry.at_ms - start) / size) as usize;
        *buckets[i].counts.entry(s).or_default() += 1;
        *totals.entry(s).or_default() += 1;
        if let Some(code) = &r.entry.error_code {
            *errors.entry(code.clone()).or_default() += 1;
            if code == "rate_limited" {
                limited.push(r);
            }
        }
        if let Some(c) = wechat_call(r) {
            *errcodes.entry(c).or_default() += 1;
        }
    }
    let calls: u64 = errcodes.values().sum();
    let failed: u64 = errcodes
        .iter()
        .filter(|(c, _)| **c != Some(0))
        .map(|(_, n)| n)
        .sum();
    let mut errcodes: Vec<ErrcodeCount> = errcodes
        .into_iter()
        .map(|(errcode, count)| ErrcodeCount {
            errcode,
            description: match errcode {
                Some(0) => "ok",
                Some(c) => wechat::ErrCode::from_code(c).description(),
                None => "no answer (timeout or dropped connection)",
            },
            count,
            rate: ratio(count, calls),
        })
        .collect();
    errcodes.sort_by(|a, b| b.count.cmp(&a.count).then(a.errcode.cmp(&b.errcode)));
    limited.sort_by_key(|r| std::cmp::Reverse((r.entry.at_ms, r.seq)));
    Overview {
        window: window.name(),
        bucket: window.bucket_name(),
        bucket_secs: size / 1000,
        from: rfc3339(start),
        to: rfc3339(end),
        series: SERIES,
        buckets,
        totals,
        errors,
        wechat: WeChatCalls {
            calls,
            errcodes,
            error_rate: ratio(failed, calls),
        },
        rate_limited: RateLimited {
            count: limited.len() as u64,
            recent: limited
                .iter()
                .take(10)
                .map(|r| Rejection {
                    at: rfc3339(r.entry.at_ms),
                    appid: r.entry.appid.clone(),
                    openid: r.entry.openid.clone(),
                    key_id: r.entry.key_id.clone(),
                })
                .collect(),
        },
        rows: in_window.len() as u64,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::NewAuditEntry;

    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000; // on the hour

    fn row(
        seq: i64,
        at_ms: i64,
        outcome: Option<&str>,
        error: Option<&str>,
        errcode: Option<i64>,
    ) -> AuditRecord {
        AuditRecord {
            seq,
            entry: NewAuditEntry {
                id: format!("id{seq}"),
                at_ms,
                key_id: "k1".into(),
                appid: "wxapp".into(),
                openid: format!("o{seq}"),
                masked_name: "张*".into(),
                masked_cred_id: "110***********0038".into(),
                blind_cred: vec![],
                blind_pair: vec![],
                key_version: 1,
                purpose: None,
                outcome: outcome.map(str::to_owned),
                error_code: error.map(str::to_owned),
                errcode,
                verify_openid: vec![],
                verify_real_name: None,
                minor: false,
                latency_ms: 3,
                kind: store::KIND_VERIFICATION.into(),
                provider: None,
                billed: None,
                consent_ref: None,
            },
            prev_hash: vec![],
            hash: vec![],
        }
    }

    #[test]
    fn rows_land_in_their_minute_and_old_rows_are_left_out() {
        let now = T0 + 59 * 60_000 + 30_000; // 30 s into the last minute of the hour
        let rows = vec![
            row(1, now - 3_600_000, Some("match"), None, Some(0)), // before the window
            row(2, T0 + 1, Some("match"), None, Some(0)),
            row(3, T0 + 60_000 + 5, Some("id_mismatch"), None, Some(0)),
            row(4, now, None, Some("rate_limited"), None),
            row(5, now - 1, None, Some("invalid_code"), Some(80113)),
        ];
        let o = summarise(&rows, now, Window::Hour, false);
        assert_eq!(o.buckets.len(), 60);
        assert_eq!(o.bucket, "minute");
        assert_eq!(o.rows, 4);
        assert_eq!(o.buckets[0].counts["match"], 1);
        assert_eq!(o.buckets[1].counts["id_mismatch"], 1);
        assert_eq!(o.buckets[59].counts["error"], 2);
        assert_eq!(o.totals["match"], 1);
        assert_eq!(o.totals["error"], 2);
        assert_eq!(o.errors["rate_limited"], 1);
        assert_eq!(o.rate_limited.count, 1);
        assert_eq!(o.rate_limited.recent[0].openid, "o4");
        assert!(!o.truncated);
    }

    #[test]
    fn errcode_rates_count_only_calls_that_reached_wechat() {
        let now = T0 + 1_000;
        let rows = vec![
            row(1, T0, Some("match"), None, Some(0)),
            row(2, T0, Some("name_mismatch"), None, Some(0)),
            row(3, T0, None, Some("upstream_unavailable"), Some(-1)),
            row(4, T0, None, Some("upstream_unavailable"), None),
            row(5, T0, None, Some("rate_limited"), None),
            row(6, T0, None, Some("code_already_used"), None),
        ];
        let o = summarise(&rows, now, Window::Day, false);
        assert_eq!(o.bucket, "hour");
        assert_eq!(o.wechat.calls, 4);
        assert_eq!(o.wechat.errcodes[0].errcode, Some(0));
        assert_eq!(o.wechat.errcodes[0].count, 2);
        assert!((o.wechat.error_rate - 0.5).abs() < 1e-9);
        let busy = o
            .wechat
            .errcodes
            .iter()
            .find(|e| e.errcode == Some(-1))
            .unwrap();
        assert_eq!(busy.description, "system busy, try later");
        assert!(o.wechat.errcodes.iter().any(|e| e.errcode.is_none()));
    }

    #[test]
    fn a_capped_read_that_stops_inside_the_window_says_so() {
        let now = T0 + 30 * 60_000;
        let rows = vec![row(1, now - 60_000, Some("match"), None, Some(0))];
        assert!(summarise(&rows, now, Window::Hour, true).truncated);
        assert!(!summarise(&rows, now, Window::Hour, false).truncated);
        assert_eq!(Window::parse(Some("week")), None);
        assert_eq!(Window::parse(None), Some(Window::Hour));
    }
}
