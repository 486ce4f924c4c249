-- The idcheck cache (issue 14): a provider's verdict for a pair (blind index of name + ID number) is looked up by
-- the pair and its age, among idcheck rows only.
CREATE INDEX audit_idcheck_pair ON audit (blind_pair, at) WHERE kind = 'idcheck';
