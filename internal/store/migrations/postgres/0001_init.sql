-- ringfence schema, Postgres. Times are unix milliseconds (UTC); NULL is "never".
-- No column holds a phone number or a code in plaintext: only blind indexes,
-- ciphertexts, MACs and masked forms.

CREATE TABLE verifications (
	id           TEXT    PRIMARY KEY,
	phone_index  BYTEA   NOT NULL,
	prefix_index BYTEA,
	phone_sealed BYTEA   NOT NULL,
	masked       TEXT    NOT NULL,
	country      TEXT    NOT NULL,
	line_type    TEXT    NOT NULL,
	ip_index     BYTEA,
	channel      TEXT    NOT NULL CHECK (channel IN ('sms', 'call', 'whatsapp', 'inbound_sms')),
	purpose      TEXT    NOT NULL CHECK (purpose IN ('signup', 'login', 'step_up', 'recovery', 'phone_change', 'guardian')),
	subject_id   TEXT    NOT NULL,
	status       TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'failed', 'expired', 'canceled')),
	code_mac     BYTEA,
	code_sealed  BYTEA,
	sends        INTEGER NOT NULL,
	checks       INTEGER NOT NULL,
	actor        TEXT    NOT NULL,
	created_at   BIGINT  NOT NULL,
	updated_at   BIGINT  NOT NULL,
	expires_at   BIGINT  NOT NULL,
	last_sent_at BIGINT,
	approved_at  BIGINT
);
CREATE INDEX verifications_phone_index ON verifications (phone_index);
-- Serves lookups by status and the expiry sweep (status = 'pending' AND expires_at <= ?).
CREATE INDEX verifications_status_expires ON verifications (status, expires_at);

-- One row per paid send, for rate limits; purged after a while.
CREATE TABLE send_log (
	id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	phone_index BYTEA   NOT NULL,
	ip_index    BYTEA,
	at          BIGINT  NOT NULL
);
CREATE INDEX send_log_phone_at ON send_log (phone_index, at);
CREATE INDEX send_log_ip_at ON send_log (ip_index, at) WHERE ip_index IS NOT NULL;
CREATE INDEX send_log_at ON send_log (at);

CREATE TABLE idempotency (
	key             BYTEA   PRIMARY KEY,
	fingerprint     BYTEA   NOT NULL,
	verification_id TEXT    NOT NULL,
	created_at      BIGINT  NOT NULL
);
CREATE INDEX idempotency_created ON idempotency (created_at);

CREATE TABLE outbox (
	id              TEXT    PRIMARY KEY,
	verification_id TEXT    NOT NULL REFERENCES verifications (id),
	channel         TEXT    NOT NULL CHECK (channel IN ('sms', 'call', 'whatsapp')),
	state           TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unknown', 'dropped')),
	attempts        INTEGER NOT NULL,
	due_at          BIGINT  NOT NULL,
	lease_until     BIGINT,
	created_at      BIGINT  NOT NULL,
	provider_id     TEXT    NOT NULL,
	error           TEXT    NOT NULL
);
CREATE INDEX outbox_state_due ON outbox (state, due_at);
CREATE INDEX outbox_state_lease ON outbox (state, lease_until);
CREATE INDEX outbox_verification ON outbox (verification_id);

-- Append-only: seq is gapless and becomes the Merkle leaf index. It is not a
-- sequence (BIGSERIAL): sequences are not transactional, so a rolled-back or
-- retried transaction would leave a gap. The store assigns max+1 under an
-- advisory lock instead. The triggers refuse every change.
CREATE TABLE audit_events (
	seq             BIGINT  PRIMARY KEY CHECK (seq > 0),
	type            TEXT    NOT NULL,
	actor           TEXT    NOT NULL,
	purpose         TEXT    NOT NULL,
	verification_id TEXT    NOT NULL,
	subject_id      TEXT    NOT NULL,
	phone_index     BYTEA,
	payload         BYTEA,
	detail          TEXT    NOT NULL,
	at              BIGINT  NOT NULL,
	leaf_hash       BYTEA   NOT NULL,
	mac             BYTEA
);
CREATE INDEX audit_events_verification ON audit_events (verification_id);
CREATE INDEX audit_events_phone ON audit_events (phone_index) WHERE phone_index IS NOT NULL;
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE api_keys (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL,
	role       TEXT    NOT NULL CHECK (role IN ('app', 'staff', 'admin')),
	hash       BYTEA   NOT NULL UNIQUE,
	created_at BIGINT  NOT NULL,
	revoked_at BIGINT
);
