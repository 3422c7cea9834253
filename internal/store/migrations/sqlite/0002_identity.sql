-- Accounts: subjects are random ids; a number (by its blind index) is bound
-- to one subject at most; audiences see subjects only by pseudonym.

CREATE TABLE subjects (
	id                       TEXT    PRIMARY KEY,
	created_at               INTEGER NOT NULL,
	updated_at               INTEGER NOT NULL,
	factor_at                INTEGER,
	step_up_at               INTEGER,
	changed_at               INTEGER,
	lost_binding_at          INTEGER,
	needs_guardian           INTEGER NOT NULL DEFAULT 0,
	guardian_consent_at      INTEGER,
	guardian_method          TEXT    NOT NULL DEFAULT '',
	guardian_verification_id TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE bindings (
	phone_index      BLOB    PRIMARY KEY,
	subject_id       TEXT    NOT NULL REFERENCES subjects (id),
	phone_sealed     BLOB    NOT NULL,
	masked           TEXT    NOT NULL,
	country          TEXT    NOT NULL,
	line_type        TEXT    NOT NULL,
	bound_at         INTEGER NOT NULL,
	last_verified_at INTEGER NOT NULL,
	release_at       INTEGER
) STRICT;
CREATE INDEX bindings_subject ON bindings (subject_id, bound_at);

CREATE TABLE audiences (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
) STRICT;

-- Provider ids of inbound messages already handled, so a replayed webhook changes nothing.
CREATE TABLE inbound_messages (
	provider_id TEXT    PRIMARY KEY,
	at          INTEGER NOT NULL
) STRICT;
CREATE INDEX inbound_messages_at ON inbound_messages (at);

CREATE INDEX verifications_pending_index ON verifications (phone_index, channel, status);
