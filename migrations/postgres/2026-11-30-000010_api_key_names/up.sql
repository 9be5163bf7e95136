-- A client user's API key has a name its user chose (docs/DOMAIN.md §7); supplier intake keys
-- have none. A user's keys are listed by user.
ALTER TABLE api_keys ADD COLUMN name TEXT;
CREATE INDEX api_keys_user ON api_keys (user_id);
