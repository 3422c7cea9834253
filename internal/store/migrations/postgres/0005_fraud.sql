-- The fraud guard's operator lists and open breakers (a JSON snapshot of
-- opaque keys: keyed indexes, country codes, subject ids; never a number),
-- so they survive a restart. Counters are kept in memory only.
CREATE TABLE fraud_state (
	id         BIGINT PRIMARY KEY CHECK (id = 1),
	data       BYTEA    NOT NULL,
	updated_at BIGINT NOT NULL
);
