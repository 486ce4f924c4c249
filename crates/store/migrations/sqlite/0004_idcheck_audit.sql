-- Audit rows of the paid name + ID-number check (issue 14) share the chain with WeChat verifications: what kind
-- of check a row records, and for an idcheck the provider, whether it was (or may have been) billed, and the
-- caller's reference to the user's separate consent (PIPL Art. 29). Existing rows are verifications.
ALTER TABLE audit ADD COLUMN kind TEXT NOT NULL DEFAULT 'verification';
ALTER TABLE audit ADD COLUMN provider TEXT;
ALTER TABLE audit ADD COLUMN billed INTEGER;
ALTER TABLE audit ADD COLUMN consent_ref TEXT;
