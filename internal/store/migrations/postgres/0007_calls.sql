-- The phone line: talk time per caller per calendar month, and one record
-- per call. Callers are keyed by the blind index of their number (or the
-- word "anonymous"); no number is stored.
CREATE TABLE call_minutes (
	caller_key TEXT   NOT NULL,
	month      BIGINT NOT NULL, -- start of the calendar month, UTC, unix ms
	used_ms    BIGINT NOT NULL CHECK (used_ms >= 0),
	PRIMARY KEY (caller_key, month)
);

CREATE TABLE calls (
	id              TEXT    PRIMARY KEY,
	trunk           TEXT    NOT NULL,
	caller_index    BYTEA,
	pseudonym       TEXT    NOT NULL DEFAULT '',
	started_at      BIGINT  NOT NULL,
	duration_ms     BIGINT  NOT NULL,
	charged_ms      BIGINT  NOT NULL,
	disclosure_hash TEXT    NOT NULL,
	ended           TEXT    NOT NULL,
	turns           BIGINT  NOT NULL,
	emergency       BIGINT  NOT NULL
);
CREATE INDEX calls_started_at ON calls (started_at);
