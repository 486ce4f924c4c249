//! Housekeeping while the gateway runs: forget used codes and idempotent answers past their retention
//! (`[retention]`). The audit trail itself is only ever purged by an operator (`wxrealname audit purge`).

use crate::state::AppState;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(3600);

/// Prune once, by the state's clock. Returns (codes forgotten, idempotency answers forgotten).
pub async fn prune_once(st: &AppState) -> Result<(u64, u64), store::Error> {
    let now = st.now_ms();
    let codes_before = now - i64::from(st.cfg.retention.used_codes_days) * 86_400_000;
    let idem_before = now - i64::from(st.cfg.retention.idempotency_hours) * 3_600_000;
    st.store.prune(codes_before, idem_before).await
}

/// Prune at start and then hourly, for as long as the process runs. With several instances each prunes;
/// the deletes are idempotent.
pub async fn run(st: AppState) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        match prune_once(&st).await {
            Ok((codes, answers)) if codes + answers > 0 => {
                tracing::info!(
                    codes,
                    answers,
                    "pruned expired replay-guard entries and idempotent answers"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed; will try again in an hour"),
        }
    }
}
