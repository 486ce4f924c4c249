-- wxrealname store, PostgreSQL. The same tables and columns as the SQLite schema: times are Unix milliseconds
-- (BIGINT), hashes and blind indexes BYTEA. No column holds a raw name or ID number.
-- Several gateway processes share these tables: the audit chain serialises on the single `chain_head` row
-- (SELECT ... FOR UPDATE), which is why that row exists from the start (seq 0, the genesis hash) instead of
-- appearing with the first append as in SQLite; the store reports a head at seq 0 as "no head".
-- Unqualified names: the tables land in the first schema of the connection's search_path.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    BYTEA NOT NULL,
    apps        TEXT NOT NULL,          -- JSON array of appids
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- Replay guard: hashes of codes already sent (or about to be sent) to WeChat.
CREATE TABLE used_codes (
    code_hash   BYTEA PRIMARY KEY,
    appid       TEXT NOT NULL,
    used_at     BIGINT NOT NULL
);
CREATE INDEX used_codes_used_at ON used_codes (used_at);

-- The audit trail: append-only, hash-chained.
CREATE TABLE audit (
    seq              BIGINT PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    at               BIGINT NOT NULL,
    key_id           TEXT NOT NULL,
    appid            TEXT NOT NULL,
    openid           TEXT NOT NULL,
    masked_name      TEXT NOT NULL,
    masked_cred_id   TEXT NOT NULL,
    blind_cred       BYTEA NOT NULL,
    blind_pair       BYTEA NOT NULL,
    key_version      INTEGER NOT NULL,
    purpose          TEXT,
    outcome          TEXT,
    error_code       TEXT,
    errcode          BIGINT,
    verify_openid    TEXT NOT NULL,
    verify_real_name TEXT,
    minor            BOOLEAN NOT NULL,
    latency_ms       BIGINT NOT NULL,
    prev_hash        BYTEA NOT NULL,
    hash             BYTEA NOT NULL
);
CREATE INDEX audit_at ON audit (at);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only';
END;
$$;

CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();

-- The chain's head (one row, seeded below), locked and updated in the same transaction as each append.
CREATE TABLE chain_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  BYTEA NOT NULL
);
INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Where verification starts after a purge: the last purged row's position and hash.
CREATE TABLE audit_checkpoint (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    hash       BYTEA NOT NULL,
    purged_at  BIGINT NOT NULL
);

-- The latest successful match per user.
CREATE TABLE identities (
    appid            TEXT NOT NULL,
    openid           TEXT NOT NULL,
    verification_id  TEXT NOT NULL,
    verified_at      BIGINT NOT NULL,
    masked_name      TEXT NOT NULL,
    masked_cred_id   TEXT NOT NULL,
    blind_cred       BYTEA NOT NULL,
    blind_pair       BYTEA NOT NULL,
    key_version      INTEGER NOT NULL,
    PRIMARY KEY (appid, openid)
);

-- Idempotency-Key replays: the first answer, per API key.
CREATE TABLE idempotency (
    key_id       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    status       INTEGER,               -- NULL while in progress
    body         TEXT,
    PRIMARY KEY (key_id, idem_key)
);
