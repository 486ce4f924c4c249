-- wxrealname store, SQLite. Times are Unix milliseconds (INTEGER); hashes and blind indexes are BLOBs.
-- No column holds a raw name or ID number: only masked forms and keyed blind indexes.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    BLOB NOT NULL,
    apps        TEXT NOT NULL,          -- JSON array of appids
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

-- Replay guard: hashes of codes already sent (or about to be sent) to WeChat.
CREATE TABLE used_codes (
    code_hash   BLOB PRIMARY KEY,
    appid       TEXT NOT NULL,
    used_at     INTEGER NOT NULL
);
CREATE INDEX used_codes_used_at ON used_codes (used_at);

-- The audit trail: append-only, hash-chained.
CREATE TABLE audit (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    at               INTEGER NOT NULL,
    key_id           TEXT NOT NULL,
    appid            TEXT NOT NULL,
    openid           TEXT NOT NULL,
    masked_name      TEXT NOT NULL,
    masked_cred_id   TEXT NOT NULL,
    blind_cred       BLOB NOT NULL,
    blind_pair       BLOB NOT NULL,
    key_version      INTEGER NOT NULL,
    purpose          TEXT,
    outcome          TEXT,
    error_code       TEXT,
    errcode          INTEGER,
    verify_openid    TEXT NOT NULL,
    verify_real_name TEXT,
    minor            INTEGER NOT NULL,
    latency_ms       INTEGER NOT NULL,
    prev_hash        BLOB NOT NULL,
    hash             BLOB NOT NULL
);
CREATE INDEX audit_at ON audit (at);

CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only');
END;

-- The chain's head (one row), updated in the same transaction as each append so appends serialise.
CREATE TABLE chain_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  BLOB NOT NULL
);

-- Where verification starts after a purge: the last purged row's position and hash.
CREATE TABLE audit_checkpoint (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        INTEGER NOT NULL,
    hash       BLOB NOT NULL,
    purged_at  INTEGER NOT NULL
);

-- The latest successful match per user.
CREATE TABLE identities (
    appid            TEXT NOT NULL,
    openid           TEXT NOT NULL,
    verification_id  TEXT NOT NULL,
    verified_at      INTEGER NOT NULL,
    masked_name      TEXT NOT NULL,
    masked_cred_id   TEXT NOT NULL,
    blind_cred       BLOB NOT NULL,
    blind_pair       BLOB NOT NULL,
    key_version      INTEGER NOT NULL,
    PRIMARY KEY (appid, openid)
);

-- Idempotency-Key replays: the first answer, per API key.
CREATE TABLE idempotency (
    key_id       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    status       INTEGER,               -- NULL while in progress
    body         TEXT,
    PRIMARY KEY (key_id, idem_key)
);
