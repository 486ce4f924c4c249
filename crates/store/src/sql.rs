//! The SQL text both backends run, written once.
//!
//! The two schemas have the same tables and columns, and where SQLite and PostgreSQL agree on a statement it is
//! here, with PostgreSQL's numbered placeholders (`$1`). [`pg`] holds the statements as written; [`sqlite`] the
//! same text with SQLite's numbered placeholders (`?1`: the `$` of each placeholder turned into `?` when the
//! crate compiles, so a binding's number means the same column in both). What only one database can say stays in
//! its backend: PostgreSQL's row locks (`FOR UPDATE`), its insert-first idempotency start, and its writer's
//! batch statements (a whole batch's rows per statement, over arrays, gated on the head's compare-and-swap). The
//! per-row writes SQLite's writer runs instead are here too, in their own list, next to the shared ones.
//!
//! The binding of values to placeholders stays in each backend (rusqlite and sqlx bind differently); the
//! contract suite (`tests/contract/`) runs every statement against both databases.

/// Define each statement once, in a module per dialect. Every statement of the first list is used by both
/// backends; those of the second (`sqlite_only`) only by SQLite.
macro_rules! statements {
    (shared { $($(#[$doc:meta])* $name:ident = $text:literal;)* }
     sqlite_only { $($(#[$sdoc:meta])* $sname:ident = $stext:literal;)* }) => {
        /// The statements as written, for PostgreSQL.
        #[cfg(feature = "postgres")]
        pub(crate) mod pg {
            $($(#[$doc])* pub(crate) const $name: &str = $text;)*
        }

        /// The statements with `?1`-style placeholders, for SQLite.
        #[cfg(feature = "sqlite")]
        pub(crate) mod sqlite {
            $($(#[$doc])* pub(crate) const $name: &str = sqlite_text!($text);)*
            $($(#[$sdoc])* pub(crate) const $sname: &str = sqlite_text!($stext);)*
        }
    };
}

/// A statement's text with `?1`-style placeholders, made when the crate compiles.
#[cfg(feature = "sqlite")]
macro_rules! sqlite_text {
    ($text:literal) => {{
        const BYTES: [u8; $text.len()] = super::question_mark_placeholders($text);
        match core::str::from_utf8(&BYTES) {
            Ok(text) => text,
            Err(_) => panic!("a statement turned into invalid UTF-8"),
        }
    }};
}

/// `$1` -> `?1`, byte for byte (same length, so the result fits an array of the input's length). A `$` that does
/// not start a placeholder fails the build: no shared statement has one in a literal.
#[cfg(feature = "sqlite")]
const fn question_mark_placeholders<const N: usize>(pg: &str) -> [u8; N] {
    let src = pg.as_bytes();
    assert!(src.len() == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = src[i];
        if src[i] == b'$' {
            assert!(
                i + 1 < N && src[i + 1].is_ascii_digit(),
                "a `$` in a shared statement must start a numbered placeholder"
            );
            out[i] = b'?';
        }
        i += 1;
    }
    out
}

statements! {
    shared {
    // API keys.
    INSERT_API_KEY = "INSERT INTO api_keys (id, name, key_hash, apps, scopes, created_at, revoked_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    API_KEY = "SELECT * FROM api_keys WHERE id = $1";
    API_KEYS = "SELECT * FROM api_keys ORDER BY created_at, id";
    REVOKE_API_KEY = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

    // The replay guard.
    RELEASE_CODE = "DELETE FROM used_codes WHERE code_hash = $1";

    // Idempotency records (how a request starts differs: see each backend's writer).
    /// A stale in-progress record taken over: its clock starts again.
    RESTART_IDEMPOTENT = "UPDATE idempotency SET created_at = $1 WHERE key_id = $2 AND idem_key = $3";
    ABORT_IDEMPOTENT = "DELETE FROM idempotency WHERE key_id = $1 AND idem_key = $2 AND status IS NULL";

    // Erasure.
    DELETE_IDENTITY = "DELETE FROM identities WHERE appid = $1 AND openid = $2";

    // Reads.
    VERIFICATION = "SELECT * FROM audit WHERE id = $1";
    IDENTITY = "SELECT * FROM identities WHERE appid = $1 AND openid = $2";
    AUDIT_PAGE = "SELECT * FROM audit WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3";
    /// Newest first by time: with several chains, `seq` orders by chain first.
    RECENT = "SELECT * FROM audit ORDER BY at DESC, seq DESC LIMIT $1";

    // A chain's ends (`id` is the chain's number), and signing them when a store is opened.
    HEAD = "SELECT seq, hash, at, mac FROM chain_head WHERE id = $1";
    WRITE_HEAD = "INSERT INTO chain_head (id, seq, hash, at, mac) VALUES ($5, $1, $2, $3, $4)
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, mac = excluded.mac";
    CHECKPOINT = "SELECT seq, hash, purged_at, mac FROM audit_checkpoint WHERE id = $1";
    SIGN_CHECKPOINT = "UPDATE audit_checkpoint SET mac = $1 WHERE id = $2";
    /// Whether this release's migration has just added signatures and not yet signed what it found.
    SEAL_PENDING = "SELECT EXISTS (SELECT 1 FROM audit_seal_pending)";
    SEAL_DONE = "DELETE FROM audit_seal_pending";
    NO_AUDIT_ROWS = "SELECT NOT EXISTS (SELECT 1 FROM audit)";

    // Retention: prune, and purge (a prefix of each chain behind a signed checkpoint and a permit; a chain's rows
    // are those with `$2 < seq <= $3`, its genesis and the next chain's).
    FORGET_CODES = "DELETE FROM used_codes WHERE used_at < $1";
    /// Only finished answers: an in-progress key belongs to a running request.
    FORGET_IDEMPOTENT_ANSWERS = "DELETE FROM idempotency WHERE created_at < $1 AND status IS NOT NULL";
    FORGET_IDEMPOTENCY = "DELETE FROM idempotency WHERE created_at < $1";
    /// The chain's first row new enough to keep.
    PURGE_KEEP_FROM = "SELECT MIN(seq) FROM audit WHERE at >= $1 AND seq > $2 AND seq <= $3";
    /// The chain's last row to purge (before `$1`, after its genesis `$2`): the checkpoint's position and hash.
    PURGE_LAST = "SELECT seq, hash FROM audit WHERE seq < $1 AND seq > $2 ORDER BY seq DESC LIMIT 1";
    WRITE_CHECKPOINT = "INSERT INTO audit_checkpoint (id, seq, hash, purged_at, mac) VALUES ($5, $1, $2, $3, $4)
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
        purged_at = excluded.purged_at, mac = excluded.mac";
    GRANT_PURGE_PERMIT = "INSERT INTO audit_purge_permit (id, upto) VALUES ($2, $1)
        ON CONFLICT (id) DO UPDATE SET upto = excluded.upto";
    PURGE_ROWS = "DELETE FROM audit WHERE seq <= $1 AND seq > $2";
    DROP_PURGE_PERMIT = "DELETE FROM audit_purge_permit";
    }

    sqlite_only {
    // The replay guard's read, one code at a time (PostgreSQL batches the lookups: `postgres/reads.rs`).
    CODE_SEEN = "SELECT 1 FROM used_codes WHERE code_hash = $1";
    // The per-row writes of SQLite's writer thread; PostgreSQL's writer sends each kind for a whole batch in
    // one statement over arrays (`postgres/writer.rs`), with the same columns.
    RESERVE_CODE = "INSERT INTO used_codes (code_hash, appid, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    STORE_IDEMPOTENT_ANSWER = "UPDATE idempotency SET status = $1, body = $2 WHERE key_id = $3 AND idem_key = $4";
    INSERT_AUDIT = "INSERT INTO audit (seq, id, at, key_id, appid, openid, masked_name, masked_cred_id, blind_cred,
        blind_pair, key_version, purpose, outcome, error_code, errcode, verify_openid, verify_real_name, minor,
        latency_ms, prev_hash, hash, kind, provider, billed, consent_ref)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
        $22, $23, $24, $25)";
    UPSERT_IDENTITY = "INSERT INTO identities (appid, openid, verification_id, verified_at, masked_name,
        masked_cred_id, blind_cred, blind_pair, key_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (appid, openid) DO UPDATE SET verification_id = excluded.verification_id,
        verified_at = excluded.verified_at, masked_name = excluded.masked_name,
        masked_cred_id = excluded.masked_cred_id, blind_cred = excluded.blind_cred,
        blind_pair = excluded.blind_pair, key_version = excluded.key_version";
    }
}

#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod tests {
    #[test]
    fn sqlite_text_differs_from_postgres_only_in_the_placeholders() {
        assert_eq!(
            super::sqlite::REVOKE_API_KEY,
            "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL"
        );
        assert_eq!(
            super::sqlite::IDENTITY,
            super::pg::IDENTITY.replace('$', "?")
        );
        assert!(super::sqlite::INSERT_AUDIT.contains("?25)"));
    }
}
