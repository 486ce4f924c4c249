//! What a run counted, and the JSON summary: throughput, latency percentiles, errors, CPU.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Counters of one connection, merged at the end (no shared state on the hot path).
#[derive(Debug, Default)]
pub struct Tally {
    /// Latency of every good answer, microseconds.
    pub latencies_us: Vec<u32>,
    pub sent: u64,
    pub good: u64,
    /// 2xx whose body lacked `--expect`, or any other status.
    pub bad: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub timeouts: u64,
    /// The first bad answer, cut short: enough to see what went wrong.
    pub first_bad: Option<String>,
    pub first_transport_error: Option<String>,
}

impl Tally {
    pub fn answered(&mut self, status: u16, good: bool, latency: Duration, body: &[u8]) {
        *self.statuses.entry(status).or_default() += 1;
        if good {
            self.good += 1;
            self.latencies_us
                .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        } else {
            self.bad += 1;
            if self.first_bad.is_none() {
                let cut = &body[..body.len().min(300)];
                self.first_bad = Some(format!("{status} {}", String::from_utf8_lossy(cut)));
            }
        }
    }

    pub fn transport(&mut self, e: &str) {
        self.transport_errors += 1;
        if self.first_transport_error.is_none() {
            self.first_transport_error = Some(e.to_owned());
        }
    }

    pub fn merge(&mut self, o: Tally) {
        self.latencies_us.extend(o.latencies_us);
        self.sent += o.sent;
        self.good += o.good;
        self.bad += o.bad;
        for (s, n) in o.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.transport_errors += o.transport_errors;
        self.timeouts += o.timeouts;
        self.first_bad = self.first_bad.take().or(o.first_bad);
        self.first_transport_error = self
            .first_transport_error
            .take()
            .or(o.first_transport_error);
    }
}

/// The value at quantile `q` of sorted `v` (nearest rank), in milliseconds.
fn quantile_ms(v: &[u32], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(f64::from(v[rank - 1]) / 1000.0)
}

pub fn summarise(
    label: &str,
    params: &Value,
    mut t: Tally,
    elapsed: Duration,
    exhausted: bool,
    cpu: Value,
) -> Value {
    t.latencies_us.sort_unstable();
    let v = &t.latencies_us;
    let mean = if v.is_empty() {
        None
    } else {
        Some(v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64 / 1000.0)
    };
    let secs = elapsed.as_secs_f64();
    let statuses: BTreeMap<String, u64> = t
        .statuses
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    json!({
        "label": label,
        "params": params,
        "elapsed_s": secs,
        "sent": t.sent,
        "good": t.good,
        "errors": t.bad + t.transport_errors + t.timeouts,
        "bad_answers": t.bad,
        "transport_errors": t.transport_errors,
        "timeouts": t.timeouts,
        "statuses": statuses,
        "first_bad": t.first_bad,
        "first_transport_error": t.first_transport_error,
        "bodies_exhausted": exhausted,
        "rps": if secs > 0.0 { t.good as f64 / secs } else { 0.0 },
        "latency_ms": {
            "mean": mean,
            "p50": quantile_ms(v, 0.50),
            "p90": quantile_ms(v, 0.90),
            "p99": quantile_ms(v, 0.99),
            "p999": quantile_ms(v, 0.999),
            "max": v.last().map(|&x| f64::from(x) / 1000.0),
        },
        "cpu": cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::quantile_ms;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=1000).map(|x| x * 1000).collect();
        assert_eq!(quantile_ms(&v, 0.5), Some(500.0));
        assert_eq!(quantile_ms(&v, 0.99), Some(990.0));
        assert_eq!(quantile_ms(&v, 0.999), Some(999.0));
        assert_eq!(quantile_ms(&[7000], 0.999), Some(7.0));
        assert_eq!(quantile_ms(&[], 0.5), None);
    }
}
