//! A circuit breaker for the check call: while WeChat is failing, stop calling it, and find out by itself
//! when it is back.
//!
//! Closed: calls go through; `failures` consecutive calls that say "WeChat is unwell" open the circuit.
//! Open: calls are refused at once with [`Error::CircuitOpen`], which provably sent nothing, so a caller
//! holding a single-use code keeps it. Half-open: once `cool_down` has passed (by the injected [`Clock`]),
//! exactly one call, the probe, is let through; its success closes the circuit, its failure opens it again
//! for another `cool_down`.
//!
//! A call is asked for before it is made ([`Breaker::admit`] hands out a [`Permit`]) and reported after
//! ([`Permit::record`]), so a caller can ask before it spends anything (the gateway asks before it reserves the
//! code). A permit dropped without a report (the caller stopped before calling, or was cancelled) counts for
//! nothing and gives the probe slot back.
//!
//! What counts as a failure: timeouts, transport errors (sent or not), HTTP 5xx, malformed answers and errcode
//! -1. Every other answer from WeChat (80113, 48001, 45009, 40003, a token error, ...) proves it is up and
//! counts as a success; errors that are not WeChat's (the token store, configuration, a proxy's HTTP 4xx)
//! count for nothing.
use crate::{Clock, ErrCode, Error};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// What a caller is told to wait while a probe is already in flight.
const PROBE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit. 0 disables the breaker: it never opens.
    pub failures: u32,
    /// How long the circuit stays open before one probe is let through.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            cool_down: Duration::from_secs(10),
        }
    }
}

/// The breaker's state as an observer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    /// The cool-down is over: the next call (or the one in flight) is the probe.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// How a finished call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// WeChat answered (whatever it answered).
    Success,
    /// WeChat looks unwell.
    Failure,
    /// Says nothing about WeChat.
    Neutral,
}

impl Verdict {
    pub fn of<T>(result: &Result<T, Error>) -> Self {
        let Err(e) = result else {
            return Self::Success;
        };
        match e {
            Error::Timeout | Error::Transport(_) | Error::NotSent(_) | Error::Malformed(_) => {
                Self::Failure
            }
            Error::HttpStatus(status) if *status >= 500 => Self::Failure,
            // WeChat answers 200 even for errors: a 4xx comes from something in between (an egress filter's 403,
            // a proxy's 429), which says nothing about WeChat either way.
            Error::HttpStatus(_) => Self::Neutral,
            Error::WeChat { code, .. } if *code == ErrCode::SystemBusy => Self::Failure,
            Error::WeChat { .. } => Self::Success,
            Error::Store(_) | Error::Config(_) | Error::CircuitOpen { .. } => Self::Neutral,
        }
    }
}

/// One app's breaker. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct Breaker {
    name: String,
    cfg: BreakerConfig,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Bumped whenever the circuit opens or closes: a report from a permit of an earlier generation is stale
    /// (the call was let through before the circuit opened) and is ignored.
    generation: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed { failures: u32 },
    Open { until: SystemTime },
    HalfOpen { probing: bool },
}

impl Breaker {
    /// `name` says whose breaker this is in logs (the appid: not personal data).
    pub fn new(name: impl Into<String>, cfg: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            name: name.into(),
            cfg,
            clock,
            inner: Mutex::new(Inner {
                phase: Phase::Closed { failures: 0 },
                generation: 0,
            }),
        }
    }

    pub fn config(&self) -> BreakerConfig {
        self.cfg
    }

    pub fn state(&self) -> BreakerState {
        match self.lock().phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until } if self.clock.now() < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Leave to make one call, or [`Error::CircuitOpen`] with how long to wait.
    pub fn admit(self: &Arc<Self>) -> Result<Permit, Error> {
        let mut inner = self.lock();
        let generation = inner.generation;
        let probe = match inner.phase {
            Phase::Closed { .. } => false,
            Phase::Open { until } => {
                let now = self.clock.now();
                if now < until {
                    let wait = until.duration_since(now).unwrap_or(PROBE_RETRY_AFTER);
                    return Err(self.refuse(wait));
                }
                inner.phase = Phase::HalfOpen { probing: true };
                transition(BreakerState::HalfOpen);
                tracing::info!(breaker = %self.name, "circuit half-open: one probe call to WeChat");
                true
            }
            Phase::HalfOpen { probing: true } => return Err(self.refuse(PROBE_RETRY_AFTER)),
            Phase::HalfOpen { probing: false } => {
                inner.phase = Phase::HalfOpen { probing: true };
                true
            }
        };
        Ok(Permit {
            breaker: Some(Arc::clone(self)),
            generation,
            probe,
        })
    }

    fn refuse(&self, retry_after: Duration) -> Error {
        metrics::counter!("wxrn_upstream_breaker_rejected_total").increment(1);
        Error::CircuitOpen { retry_after }
    }

    fn report(&self, generation: u64, probe: bool, verdict: Verdict) {
        let mut inner = self.lock();
        if generation != inner.generation {
            return;
        }
        match (inner.phase, verdict) {
            (Phase::HalfOpen { probing: true }, _) if probe => match verdict {
                Verdict::Success => {
                    inner.phase = Phase::Closed { failures: 0 };
                    inner.generation += 1;
                    transition(BreakerState::Closed);
                    metrics::gauge!("wxrn_upstream_breakers_open").decrement(1.0);
                    tracing::info!(breaker = %self.name, "circuit closed: WeChat answered the probe");
                }
                Verdict::Failure => self.open(&mut inner, "the probe failed"),
                Verdict::Neutral => inner.phase = Phase::HalfOpen { probing: false },
            },
            (Phase::Closed { .. }, Verdict::Success) => {
                inner.phase = Phase::Closed { failures: 0 };
            }
            (Phase::Closed { failures }, Verdict::Failure) => {
                let failures = failures.saturating_add(1);
                inner.phase = Phase::Closed { failures };
                if self.cfg.failures > 0 && failures >= self.cfg.failures {
                    metrics::gauge!("wxrn_upstream_breakers_open").increment(1.0);
                    self.open(&mut inner, "consecutive failures");
                }
            }
            _ => {}
        }
    }

    fn release(&self, generation: u64, probe: bool) {
        self.report(generation, probe, Verdict::Neutral);
    }

    fn open(&self, inner: &mut Inner, why: &'static str) {
        inner.phase = Phase::Open {
            until: self.clock.now() + self.cfg.cool_down,
        };
        inner.generation += 1;
        transition(BreakerState::Open);
        tracing::warn!(
            breaker = %self.name,
            why,
            cool_down_secs = self.cfg.cool_down.as_secs(),
            "circuit open: WeChat is failing; calls refused until the cool-down ends"
        );
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a plain assignment: a panic elsewhere cannot leave the state half-written.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn transition(to: BreakerState) {
    metrics::counter!("wxrn_upstream_breaker_transitions_total", "to" => to.as_str()).increment(1);
}

/// Leave for one call. Report how it went with [`record`](Self::record); dropping it unreported (the call was
/// never made) counts for nothing and frees the probe slot.
#[must_use = "a permit reports the call's result; dropping it says the call was not made"]
#[derive(Debug)]
pub struct Permit {
    breaker: Option<Arc<Breaker>>,
    generation: u64,
    probe: bool,
}

impl Permit {
    /// A permit from no breaker at all: for callers without one.
    pub fn unguarded() -> Self {
        Self {
            breaker: None,
            generation: 0,
            probe: false,
        }
    }

    /// Whether this is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Report the call's result to the breaker.
    pub fn record<T>(self, result: &Result<T, Error>) {
        self.record_verdict(Verdict::of(result));
    }

    /// Report how a call went, for callers whose errors are not WeChat's (the paid providers' breakers).
    pub fn record_verdict(mut self, verdict: Verdict) {
        if let Some(b) = self.breaker.take() {
            b.report(self.generation, self.probe, verdict);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(b) = self.breaker.take() {
            b.release(self.generation, self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    const COOL: Duration = Duration::from_secs(10);

    fn breaker(failures: u32) -> (Arc<Breaker>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        let b = Breaker::new(
            "wxtest",
            BreakerConfig {
                failures,
                cool_down: COOL,
            },
            clock.clone(),
        );
        (Arc::new(b), clock)
    }

    fn fail() -> Result<(), Error> {
        Err(Error::Timeout)
    }

    fn ok() -> Result<(), Error> {
        Ok(())
    }

    fn wechat(code: i64) -> Result<(), Error> {
        Err(Error::WeChat {
            code: ErrCode::from_code(code),
            errmsg: String::new(),
        })
    }

    fn call(b: &Arc<Breaker>, result: Result<(), Error>) {
        b.admit().expect("admitted").record(&result);
    }

    fn refused_for(b: &Arc<Breaker>) -> Duration {
        match b.admit() {
            Err(e @ Error::CircuitOpen { retry_after }) => {
                assert!(!e.may_have_reached_wechat());
                assert_eq!(e.kind(), "circuit_open");
                retry_after
            }
            other => panic!("expected CircuitOpen, got {other:?}"),
        }
    }

    #[test]
    fn opens_after_n_consecutive_failures_only() {
        let (b, _) = breaker(3);
        call(&b, fail());
        call(&b, fail());
        call(&b, ok());
        call(&b, fail());
        call(&b, fail());
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success in between resets"
        );
        call(&b, fail());
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(refused_for(&b), COOL);
    }

    #[test]
    fn what_counts_as_a_failure() {
        let failures = [
            Error::Timeout,
            Error::Transport("reset".into()),
            Error::NotSent("refused".into()),
            Error::HttpStatus(500),
            Error::HttpStatus(502),
            Error::Malformed("truncated".into()),
            Error::WeChat {
                code: ErrCode::SystemBusy,
                errmsg: String::new(),
            },
        ];
        for e in failures {
            assert_eq!(Verdict::of::<()>(&Err(e.clone())), Verdict::Failure, "{e}");
        }
        for code in [80113, 48001, 45009, 40003, 40001, 40014, 42001, 61234] {
            assert_eq!(Verdict::of(&wechat(code)), Verdict::Success, "{code}");
        }
        for e in [
            Error::HttpStatus(403),
            Error::Store("redis".into()),
            Error::Config("x".into()),
            Error::CircuitOpen { retry_after: COOL },
        ] {
            assert_eq!(Verdict::of::<()>(&Err(e.clone())), Verdict::Neutral, "{e}");
        }
    }

    #[test]
    fn business_answers_keep_it_closed() {
        let (b, _) = breaker(2);
        for code in [80113, 48001, 45009, 40003, 40001] {
            call(&b, fail());
            call(&b, wechat(code));
        }
        // Neutral results neither count nor reset.
        call(&b, fail());
        call(&b, Err(Error::Store("redis down".into())));
        assert_eq!(b.state(), BreakerState::Closed);
        call(&b, fail());
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn after_the_cool_down_one_probe_closes_it() {
        let (b, clock) = breaker(1);
        call(&b, fail());
        clock.advance(Duration::from_secs(4));
        assert_eq!(refused_for(&b), Duration::from_secs(6));
        clock.advance(Duration::from_secs(6));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.admit().unwrap();
        assert!(probe.is_probe());
        // Only one probe at a time.
        assert_eq!(refused_for(&b), PROBE_RETRY_AFTER);
        probe.record(&ok());
        assert_eq!(b.state(), BreakerState::Closed);
        let p = b.admit().unwrap();
        assert!(!p.is_probe());
        p.record(&ok());
    }

    #[test]
    fn a_failed_probe_opens_it_again_for_a_full_cool_down() {
        let (b, clock) = breaker(1);
        call(&b, fail());
        clock.advance(COOL);
        clock.advance(Duration::from_secs(3));
        b.admit()
            .unwrap()
            .record(&Err::<(), _>(Error::HttpStatus(502)));
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            refused_for(&b),
            COOL,
            "the cool-down starts at the probe's failure"
        );
        clock.advance(COOL);
        let probe = b.admit().unwrap();
        assert!(probe.is_probe());
        probe.record(&wechat(80113));
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "any answer proves WeChat is back"
        );
    }

    #[test]
    fn an_unused_probe_frees_the_slot() {
        let (b, clock) = breaker(1);
        call(&b, fail());
        clock.advance(COOL);
        drop(b.admit().unwrap());
        let probe = b.admit().unwrap();
        assert!(probe.is_probe(), "the slot came back");
        probe.record(&Err::<(), _>(Error::Store("redis".into())));
        assert_eq!(b.state(), BreakerState::HalfOpen, "neutral: still probing");
        let probe = b.admit().unwrap();
        assert!(probe.is_probe());
        probe.record(&ok());
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn late_results_from_before_the_opening_are_ignored() {
        let (b, clock) = breaker(2);
        let early_ok = b.admit().unwrap();
        let early_fail = b.admit().unwrap();
        call(&b, fail());
        call(&b, fail());
        assert_eq!(b.state(), BreakerState::Open);
        // Calls let through before it opened finish now: they neither close nor extend it.
        early_ok.record(&ok());
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(COOL);
        let probe = b.admit().unwrap();
        early_fail.record(&fail());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        probe.record(&ok());
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn zero_failures_disables_it() {
        let (b, _) = breaker(0);
        for _ in 0..100 {
            call(&b, fail());
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn an_unguarded_permit_records_nothing() {
        Permit::unguarded().record(&fail());
        assert!(!Permit::unguarded().is_probe());
    }
}
