-- Signed chain ends, and deletes only through `wxrealname audit purge` (as in the SQLite schema).
--
-- The head and the purge checkpoint carry an HMAC-SHA256 signature (`mac`) over (chain, position, hash, time)
-- under a key derived from the master key, which is not in the database. `at` is the time the head was signed.
ALTER TABLE chain_head ADD COLUMN at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE chain_head ADD COLUMN mac BYTEA;
ALTER TABLE audit_checkpoint ADD COLUMN mac BYTEA;

-- A purge writes the position it may delete up to here, in its own transaction, and removes it before
-- committing; any other DELETE of an audit row (and any TRUNCATE) is refused.
CREATE TABLE audit_purge_permit (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    upto  BIGINT NOT NULL
);

CREATE FUNCTION audit_delete_only_by_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq > COALESCE((SELECT upto FROM audit_purge_permit WHERE id = 1), 0) THEN
        RAISE EXCEPTION 'audit rows are deleted only by wxrealname audit purge';
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER audit_delete_only_by_purge BEFORE DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_delete_only_by_purge();

CREATE FUNCTION audit_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are deleted only by wxrealname audit purge';
END;
$$;

CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_no_truncate();

-- Present until the store signs the head and checkpoint this migration found unsigned (the first open with the
-- key); see `seal` in the store.
CREATE TABLE audit_seal_pending (
    id  INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO audit_seal_pending (id) VALUES (1);
