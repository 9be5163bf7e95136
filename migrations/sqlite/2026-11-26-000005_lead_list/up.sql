-- All leads: newest first within an instance, with keyset pagination on (received_at, id).
-- The status is not indexed: it is the rejection engine's hot write path.
CREATE INDEX leads_instance_received ON leads (instance_id, received_at, id);
