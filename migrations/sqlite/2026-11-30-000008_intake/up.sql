-- Keys for machines (docs/DOMAIN.md §7, §9): a supplier's intake key, or (later) a client user's
-- API key. Only a SHA-256 of the key is stored; the key itself is shown once, when made.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    instance_id BIGINT NOT NULL REFERENCES instances (id),
    kind TEXT NOT NULL CHECK (kind IN ('supplier_intake', 'client_api')),
    supplier_id BIGINT REFERENCES suppliers (id),
    user_id BIGINT REFERENCES users (id),
    -- the key's first characters, shown in lists so a key can be recognised
    prefix TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    CHECK ((kind = 'supplier_intake') = (supplier_id IS NOT NULL)),
    CHECK ((kind = 'client_api') = (user_id IS NOT NULL))
);
CREATE INDEX api_keys_supplier ON api_keys (supplier_id);
