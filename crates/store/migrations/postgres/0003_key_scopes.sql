-- API-key scopes beyond the WeChat check (which `apps` grants): a JSON array, e.g. ["idcheck"] for the paid
-- name + ID-number check. Existing keys get none.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
