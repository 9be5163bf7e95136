DROP INDEX api_keys_user;
ALTER TABLE api_keys DROP COLUMN name;
