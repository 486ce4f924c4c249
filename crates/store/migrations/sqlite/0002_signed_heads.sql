-- Signed chain ends, and deletes only through `wxrealname audit purge`.
--
-- The head and the purge checkpoint carry an HMAC-SHA256 signature (`mac`) over (chain, position, hash, time)
-- under a key derived from the master key, which is not in the database: whoever holds only the database can no
-- longer cut, extend or recompute the chain and make its ends agree. `at` is the time the head was signed.
ALTER TABLE chain_head ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chain_head ADD COLUMN mac BLOB;
ALTER TABLE audit_checkpoint ADD COLUMN mac BLOB;

-- A purge writes the position it may delete up to here, in its own transaction, and removes it before
-- committing; any other DELETE of an audit row is refused.
CREATE TABLE audit_purge_permit (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    upto  INTEGER NOT NULL
);

CREATE TRIGGER audit_delete_only_by_purge BEFORE DELETE ON audit
WHEN OLD.seq > COALESCE((SELECT upto FROM audit_purge_permit WHERE id = 1), 0)
BEGIN
    SELECT RAISE(ABORT, 'audit rows are deleted only by wxrealname audit purge');
END;

-- Present until the store signs the head and checkpoint this migration found unsigned (the first open with the
-- key); see `seal` in the store.
CREATE TABLE audit_seal_pending (
    id  INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO audit_seal_pending (id) VALUES (1);
