-- One audit chain per gateway process (issue 15): each process appends to a chain of its own, so that no append
-- of one process ever waits for another's (there is no row, lock or sequence every append takes). Chain n's
-- head, purge checkpoint and purge permit are the rows with id = n; its audit rows have
-- (n - 1) << 40 < seq < n << 40, position p at seq ((n - 1) << 40) + p. Chain 1 is the chain there was before,
-- unchanged. A process holds its chain by a session advisory lock (see the store's writer); `audit verify`
-- walks every chain.
ALTER TABLE chain_head DROP CONSTRAINT chain_head_id_check,
    ADD CONSTRAINT chain_head_id_check CHECK (id >= 1);
ALTER TABLE audit_checkpoint DROP CONSTRAINT audit_checkpoint_id_check,
    ADD CONSTRAINT audit_checkpoint_id_check CHECK (id >= 1);
ALTER TABLE audit_purge_permit DROP CONSTRAINT audit_purge_permit_id_check,
    ADD CONSTRAINT audit_purge_permit_id_check CHECK (id >= 1);

-- A delete goes through only up to the position the row's own chain's permit names.
CREATE OR REPLACE FUNCTION audit_delete_only_by_purge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq > COALESCE((SELECT upto FROM audit_purge_permit WHERE id = (OLD.seq >> 40) + 1),
                          (OLD.seq >> 40) << 40) THEN
        RAISE EXCEPTION 'audit rows are deleted only by wxrealname audit purge';
    END IF;
    RETURN OLD;
END;
$$;
