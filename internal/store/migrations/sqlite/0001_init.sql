-- ringfence schema, SQLite. Times are unix milliseconds (UTC); NULL is "never".
-- No column holds a phone number or a code in plaintext: only blind indexes,
-- ciphertexts, MACs and masked forms.

CREATE TABLE verifications (
	id           TEXT    PRIMARY KEY,
	phone_index  BLOB    NOT NULL,
	prefix_index BLOB,
	phone_sealed BLOB    NOT NULL,
	masked       TEXT    NOT NULL,
	country      TEXT    NOT NULL,
	line_type    TEXT    NOT NULL,
	ip_index     BLOB,
	channel      TEXT    NOT NULL CHECK (channel IN ('sms', 'call', 'whatsapp', 'inbound_sms')),
	purpose      TEXT    NOT NULL CHECK (purpose IN ('signup', 'login', 'step_up', 'recovery', 'phone_change', 'guardian')),
	subject_id   TEXT    NOT NULL,
	status       TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'failed', 'expired', 'canceled')),
	code_mac     BLOB,
	code_sealed  BLOB,
	sends        INTEGER NOT NULL,
	checks       INTEGER NOT NULL,
	actor        TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	last_sent_at INTEGER,
	approved_at  INTEGER
) STRICT;
CREATE INDEX verifications_phone_index ON verifications (phone_index);
-- Serves lookups by status and the expiry sweep (status = 'pending' AND expires_at <= ?).
CREATE INDEX verifications_status_expires ON verifications (status, expires_at);

-- One row per paid send, for rate limits; purged after a while.
CREATE TABLE send_log (
	id          INTEGER PRIMARY KEY,
	phone_index BLOB    NOT NULL,
	ip_index    BLOB,
	at          INTEGER NOT NULL
) STRICT;
CREATE INDEX send_log_phone_at ON send_log (phone_index, at);
CREATE INDEX send_log_ip_at ON send_log (ip_index, at) WHERE ip_index IS NOT NULL;
CREATE INDEX send_log_at ON send_log (at);

CREATE TABLE idempotency (
	key             BLOB    PRIMARY KEY,
	fingerprint     BLOB    NOT NULL,
	verification_id TEXT    NOT NULL,
	created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX idempotency_created ON idempotency (created_at);

CREATE TABLE outbox (
	id              TEXT    PRIMARY KEY,
	verification_id TEXT    NOT NULL REFERENCES verifications (id),
	channel         TEXT    NOT NULL CHECK (channel IN ('sms', 'call', 'whatsapp')),
	state           TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unknown', 'dropped')),
	attempts        INTEGER NOT NULL,
	due_at          INTEGER NOT NULL,
	lease_until     INTEGER,
	created_at      INTEGER NOT NULL,
	provider_id     TEXT    NOT NULL,
	error           TEXT    NOT NULL
) STRICT;
CREATE INDEX outbox_state_due ON outbox (state, due_at);
CREATE INDEX outbox_state_lease ON outbox (state, lease_until);
CREATE INDEX outbox_verification ON outbox (verification_id);

-- Append-only: seq is gapless (assigned as max+1 by the single writer) and
-- becomes the Merkle leaf index. The triggers refuse every change.
CREATE TABLE audit_events (
	seq             INTEGER PRIMARY KEY,
	type            TEXT    NOT NULL,
	actor           TEXT    NOT NULL,
	purpose         TEXT    NOT NULL,
	verification_id TEXT    NOT NULL,
	subject_id      TEXT    NOT NULL,
	phone_index     BLOB,
	payload         BLOB,
	detail          TEXT    NOT NULL,
	at              INTEGER NOT NULL,
	leaf_hash       BLOB    NOT NULL,
	mac             BLOB
) STRICT;
CREATE INDEX audit_events_verification ON audit_events (verification_id);
CREATE INDEX audit_events_phone ON audit_events (phone_index) WHERE phone_index IS NOT NULL;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TABLE api_keys (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL,
	role       TEXT    NOT NULL CHECK (role IN ('app', 'staff', 'admin')),
	hash       BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
) STRICT;
