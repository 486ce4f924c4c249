//! Signed chain heads to the anchor file (`audit.anchor_file`), kept apart from the database: at start, every
//! `audit.anchor_every_rows` rows or `audit.anchor_every_secs` seconds (whichever comes first, and only when the
//! chain has grown), and at shutdown. `audit verify` holds the database against it (`store::anchor`).
//!
//! Each anchor entry holds the heads of every chain (on PostgreSQL, one chain per gateway process), read
//! together: with several instances, each keeps its own anchor on its own host, and every anchor vouches for
//! all of the chains up to the moment it was written.

use crate::state::AppState;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the heads are looked at (at most; less often when `anchor_every_secs` is smaller).
const LOOK: Duration = Duration::from_secs(1);

/// Every chain's signed head, read together, and how many rows the chains have had appended in all (what makes
/// an anchor due); `None` when a chain's head is missing.
async fn heads(st: &AppState) -> anyhow::Result<(Vec<store::ChainLink>, Option<i64>)> {
    let mut heads = Vec::new();
    let mut complete = true;
    for state in st.store.chain_states().await? {
        match state.head {
            Some(h) => heads.push(h),
            None => complete = false,
        }
    }
    let total = heads
        .iter()
        .map(|h| h.seq - store::chain::base(store::chain::chain_of(h.seq)))
        .sum();
    Ok((heads, Some(total).filter(|_| complete)))
}

/// Append every chain's current signed head to `path` (one write, one flush); returns how many rows the chains
/// hold in all. Runs the file write and its fsync off the runtime threads.
pub async fn anchor_now(st: &AppState, path: &Path) -> anyhow::Result<i64> {
    let (heads, total) = heads(st).await?;
    write(st, path, heads, total).await
}

/// Append `heads`, read together, to `path`; `total` is [`heads`]'s count (`None`: a head is missing, an error).
async fn write(
    st: &AppState,
    path: &Path,
    heads: Vec<store::ChainLink>,
    total: Option<i64>,
) -> anyhow::Result<i64> {
    let total = total.ok_or_else(|| {
        anyhow::anyhow!("an audit chain head is missing; run `wxrealname audit verify`")
    })?;
    let keys = st.pii.audit_keys();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || store::anchor::append_all(&path, &keys, &heads)).await??;
    Ok(total)
}

/// Whether to anchor now: always the first time; then once the chains have grown by `rows`, or have grown at all
/// and `every` has passed since the last entry; a missing head (an error by itself) is retried every `every`.
fn due(last: Option<(i64, Instant)>, head: Option<i64>, rows: i64, every: Duration) -> bool {
    match (last, head) {
        (None, _) => true,
        (Some((seq, at)), Some(now)) => now != seq && (now - seq >= rows || at.elapsed() >= every),
        (Some((_, at)), None) => at.elapsed() >= every,
    }
}

/// Say so, loudly, when a chain in the database starts out behind what its anchor recorded: it was rolled back
/// (restored from a backup, or cut). The gateway still starts; `audit verify` fails until an operator has looked.
fn warn_if_behind(st: &AppState, path: &Path, heads: &[store::ChainLink]) {
    let Ok(Some(entries)) = store::anchor::read(path) else {
        return;
    };
    let keys = st.pii.audit_keys();
    let chain_of = store::chain::chain_of;
    for e in entries
        .iter()
        .filter(|e| keys.verifies(store::chain::LinkKind::Head, &e.link))
    {
        let head = heads
            .iter()
            .find(|h| chain_of(h.seq) == chain_of(e.link.seq));
        if head.is_none_or(|h| h.seq < e.link.seq) {
            tracing::error!(
                anchored = %store::chain::Position(e.link.seq),
                head = ?head.map(|h| store::chain::Position(h.seq).to_string()),
                path = %path.display(),
                "an audit chain in the database ends before what its anchor recorded (or is gone): it was rolled back or cut; run `wxrealname audit verify`"
            );
            return;
        }
    }
}

/// Anchor at start, then whenever enough rows or time have passed, for as long as the process runs.
pub async fn run(st: AppState, path: PathBuf) {
    let rows = i64::try_from(st.cfg.audit.anchor_every_rows.max(1)).unwrap_or(i64::MAX);
    let every = Duration::from_secs(st.cfg.audit.anchor_every_secs.max(1));
    let mut tick = tokio::time::interval(LOOK.min(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<(i64, Instant)> = None;
    loop {
        tick.tick().await;
        let (heads, total) = match heads(&st).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the audit chain heads for the anchor; will try again");
                continue;
            }
        };
        if last.is_none() {
            warn_if_behind(&st, &path, &heads);
        }
        if !due(last, total, rows, every) {
            continue;
        }
        match write(&st, &path, heads, total).await {
            Ok(total) => last = Some((total, Instant::now())),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot write the audit anchor");
                // Not again every second: at the next interval.
                last = Some((total.unwrap_or(0), Instant::now()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_every_n_rows_or_m_seconds_once_grown() {
        let every = Duration::from_secs(60);
        let now = Instant::now();
        let long_ago = now.checked_sub(Duration::from_secs(61)).unwrap_or(now);
        assert!(due(None, Some(0), 1000, every), "at start");
        assert!(!due(Some((10, now)), Some(10), 1000, every), "not grown");
        assert!(
            !due(Some((10, long_ago)), Some(10), 1000, every),
            "not grown, however long ago"
        );
        assert!(
            !due(Some((10, now)), Some(1009), 1000, every),
            "999 rows, recently"
        );
        assert!(due(Some((10, now)), Some(1010), 1000, every), "1000 rows");
        if long_ago < now {
            assert!(
                due(Some((10, long_ago)), Some(11), 1000, every),
                "grown, and a minute passed"
            );
            assert!(
                due(Some((10, long_ago)), None, 1000, every),
                "a missing head, retried"
            );
        }
        assert!(!due(Some((10, now)), None, 1000, every));
    }
}
