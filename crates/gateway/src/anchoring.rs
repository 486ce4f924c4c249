//! Signed chain heads to the anchor file (`audit.anchor_file`), kept apart from the database: at start, every
//! `audit.anchor_every_rows` rows or `audit.anchor_every_secs` seconds (whichever comes first, and only when the
//! chain has grown), and at shutdown. `audit verify` holds the database against it (`store::anchor`).
//!
//! With several instances, each keeps its own anchor on its own host: the head it anchors is the shared chain's,
//! so every anchor vouches for the whole chain up to the moment it was written.

use crate::state::AppState;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the head is looked at (at most; less often when `anchor_every_secs` is smaller).
const LOOK: Duration = Duration::from_secs(1);

/// Append the current signed head to `path`; returns its position. Runs the file write and its fsync off the
/// runtime threads.
pub async fn anchor_now(st: &AppState, path: &Path) -> anyhow::Result<i64> {
    let head = st.store.chain_state().await?.head.ok_or_else(|| {
        anyhow::anyhow!("the audit chain head is missing; run `wxrealname audit verify`")
    })?;
    let keys = st.pii.audit_keys();
    let path = path.to_owned();
    let seq = head.seq;
    tokio::task::spawn_blocking(move || store::anchor::append(&path, &keys, &head)).await??;
    Ok(seq)
}

/// Whether to anchor now: always the first time; then once the chain has grown by `rows`, or has grown at all
/// and `every` has passed since the last entry; a missing head (an error by itself) is retried every `every`.
fn due(last: Option<(i64, Instant)>, head: Option<i64>, rows: i64, every: Duration) -> bool {
    match (last, head) {
        (None, _) => true,
        (Some((seq, at)), Some(now)) => now != seq && (now - seq >= rows || at.elapsed() >= every),
        (Some((_, at)), None) => at.elapsed() >= every,
    }
}

/// Say so, loudly, when the database starts out behind what its anchor recorded: it was rolled back (restored
/// from a backup, or cut). The gateway still starts; `audit verify` fails until an operator has looked.
fn warn_if_behind(st: &AppState, path: &Path, head: Option<i64>) {
    let Ok(Some(entries)) = store::anchor::read(path) else {
        return;
    };
    let keys = st.pii.audit_keys();
    let newest = entries
        .iter()
        .filter(|e| keys.verifies(store::chain::LinkKind::Head, &e.link))
        .map(|e| e.link.seq)
        .max();
    if let (Some(anchored), Some(head)) = (newest, head)
        && anchored > head
    {
        tracing::error!(
            anchored,
            head,
            path = %path.display(),
            "the audit chain in the database ends before what its anchor recorded: it was rolled back or cut; run `wxrealname audit verify`"
        );
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
        let head = match st.store.chain_state().await {
            Ok(s) => s.head.map(|h| h.seq),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the audit chain head for the anchor; will try again");
                continue;
            }
        };
        if last.is_none() {
            warn_if_behind(&st, &path, head);
        }
        if !due(last, head, rows, every) {
            continue;
        }
        match anchor_now(&st, &path).await {
            Ok(seq) => last = Some((seq, Instant::now())),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot write the audit anchor");
                // Not again every second: at the next interval.
                last = Some((head.unwrap_or(0), Instant::now()));
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
