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
        let due = match (last, head) {
            (None, _) => true,
            (Some((seq, at)), Some(now)) => {
                now != seq && (now - seq >= rows || at.elapsed() >= every)
            }
            (Some((_, at)), None) => at.elapsed() >= every,
        };
        if !due {
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
