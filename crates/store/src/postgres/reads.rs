//! The replay guard's read, batched the way the writes are: every verification asks whether its code was seen
//! before, and one statement (`code_hash = ANY($1)`) answers all the lookups queued while the one before was
//! on its way, instead of a statement (and a round trip) each. [`WORKERS`] batch is in flight at a time, on a
//! connection of its own; the first lookup of a quiet moment goes at once.
//!
//! A failed batch fails each of its lookups with [`Error::Unavailable`]: a read has nothing to undo, and the
//! caller answers as it does for any store error.

use crate::{Error, Result};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Batches of lookups in flight at once (one: the larger the batch, the less each lookup costs; see
/// `writer::CHAIN_WORKERS`).
pub(super) const WORKERS: usize = 1;
/// At most this many lookups share one statement.
const MAX_BATCH: usize = 512;

const SEEN: &str = "SELECT code_hash FROM used_codes WHERE code_hash = ANY($1)";

type Lookup = (Vec<u8>, oneshot::Sender<Result<bool>>);

/// The queue to the lookup workers.
#[derive(Debug, Clone)]
pub(super) struct Seen(mpsc::Sender<Lookup>);

impl Seen {
    /// Start the workers on `pool`.
    pub(super) fn start(pool: PgPool, trouble: Arc<super::Trouble>) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WORKERS {
            tokio::spawn(run(pool.clone(), rx.clone(), trouble.clone()));
        }
        Seen(tx)
    }

    /// Whether a code (by hash) was already reserved.
    pub(super) async fn code_seen(&self, code_hash: &[u8]) -> Result<bool> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send((code_hash.to_vec(), tx))
            .await
            .map_err(|_| Error::WriterGone)?;
        rx.await.map_err(|_| Error::WriterGone)?
    }
}

async fn run(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Lookup>>>, trouble: Arc<super::Trouble>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let hashes: Vec<&[u8]> = batch.iter().map(|(h, _)| h.as_slice()).collect();
        let found: std::result::Result<Vec<Vec<u8>>, _> = sqlx::query_scalar(SEEN)
            .bind(&hashes)
            .fetch_all(&pool)
            .await;
        match found {
            Ok(found) => {
                let found: HashSet<&[u8]> = found.iter().map(Vec::as_slice).collect();
                for (hash, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(found.contains(hash.as_slice())));
                }
            }
            Err(e) => {
                if !matches!(e, sqlx::Error::Database(_)) {
                    trouble.note();
                }
                let msg = e.to_string();
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(Error::Unavailable(msg.clone())));
                }
            }
        }
    }
}
