-- Accounts: subjects are random ids; a number (by its blind index) is bound
-- to one subject at most; audiences see subjects only by pseudonym.

CREATE TABLE subjects (
	id                       TEXT    PRIMARY KEY,
	created_at               BIGINT NOT NULL,
	updated_at               BIGINT NOT NULL,
	factor_at                BIGINT,
	step_up_at               BIGINT,
	changed_at               BIGINT,
	lost_binding_at          BIGINT,
	needs_guardian           BIGINT NOT NULL DEFAULT 0,
	guardian_consent_at      BIGINT,
	guardian_method          TEXT    NOT NULL DEFAULT '',
	guardian_verification_id TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE bindings (
	phone_index      BYTEA    PRIMARY KEY,
	subject_id       TEXT    NOT NULL REFERENCES subjects (id),
	phone_sealed     BYTEA    NOT NULL,
	masked           TEXT    NOT NULL,
	country          TEXT    NOT NULL,
	line_type        TEXT    NOT NULL,
	bound_at         BIGINT NOT NULL,
	last_verified_at BIGINT NOT NULL,
	release_at       BIGINT
);
CREATE INDEX bindings_subject ON bindings (subject_id, bound_at);

CREATE TABLE audiences (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

-- Provider ids of inbound messages already handled, so a replayed webhook changes nothing.
CREATE TABLE inbound_messages (
	provider_id TEXT    PRIMARY KEY,
	at          BIGINT NOT NULL
);
CREATE INDEX inbound_messages_at ON inbound_messages (at);

CREATE INDEX verifications_pending_index ON verifications (phone_index, channel, status);
