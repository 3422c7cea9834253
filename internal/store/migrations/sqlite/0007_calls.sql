-- The phone line: talk time per caller per calendar month, and one record
-- per call. Callers are keyed by the blind index of their number (or the
-- word "anonymous"); no number is stored.
CREATE TABLE call_minutes (
	caller_key TEXT    NOT NULL,
	month      INTEGER NOT NULL, -- start of the calendar month, UTC, unix ms
	used_ms    INTEGER NOT NULL CHECK (used_ms >= 0),
	PRIMARY KEY (caller_key, month)
) STRICT;

CREATE TABLE calls (
	id              TEXT    PRIMARY KEY,
	trunk           TEXT    NOT NULL,
	caller_index    BLOB,
	pseudonym       TEXT    NOT NULL DEFAULT '',
	started_at      INTEGER NOT NULL,
	duration_ms     INTEGER NOT NULL,
	charged_ms      INTEGER NOT NULL,
	disclosure_hash TEXT    NOT NULL,
	ended           TEXT    NOT NULL,
	turns           INTEGER NOT NULL,
	emergency       INTEGER NOT NULL
) STRICT;
CREATE INDEX calls_started_at ON calls (started_at);
