-- Staff access: console accounts (argon2id password, TOTP secret sealed
-- under the vault, never in plaintext), their sessions (only the SHA-256 of
-- the token), reveal requests and their approvals.

CREATE TABLE staff (
	id             TEXT    PRIMARY KEY,
	email          TEXT    NOT NULL UNIQUE,
	role           TEXT    NOT NULL CHECK (role IN ('viewer', 'reviewer', 'approver', 'admin')),
	password_hash  TEXT    NOT NULL,
	totp_sealed    BLOB    NOT NULL,
	totp_last_step INTEGER NOT NULL DEFAULT 0,
	failed_logins  INTEGER NOT NULL DEFAULT 0,
	locked_until   INTEGER,
	created_at     INTEGER NOT NULL,
	disabled_at    INTEGER
) STRICT;

CREATE TABLE staff_sessions (
	hash         BLOB    PRIMARY KEY,
	staff_id     TEXT    NOT NULL REFERENCES staff (id),
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- subject_id is not a foreign key: erasure removes subjects, and the
-- request stays as the record of what was asked.
CREATE TABLE reveal_requests (
	id               TEXT    PRIMARY KEY,
	subject_id       TEXT    NOT NULL,
	phone_index      BLOB    NOT NULL,
	masked           TEXT    NOT NULL,
	-- the fixed list: there is no purpose for marketing or sharing
	purpose          TEXT    NOT NULL CHECK (purpose IN ('tos_review', 'legal', 'recovery_support', 'user_export')),
	justification    TEXT    NOT NULL,
	ticket           TEXT    NOT NULL,
	requested_by     TEXT    NOT NULL REFERENCES staff (id),
	approvals_needed INTEGER NOT NULL,
	status           TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
	created_at       INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	approved_at      INTEGER,
	use_by           INTEGER,
	used_at          INTEGER,
	denied_by        TEXT    NOT NULL DEFAULT '',
	deny_reason      TEXT    NOT NULL DEFAULT '',
	denied_at        INTEGER
) STRICT;
CREATE INDEX reveal_requests_status ON reveal_requests (status, created_at);
CREATE INDEX reveal_requests_subject ON reveal_requests (subject_id);

-- One approval per approver and request.
CREATE TABLE reveal_approvals (
	reveal_id TEXT    NOT NULL REFERENCES reveal_requests (id),
	staff_id  TEXT    NOT NULL REFERENCES staff (id),
	at        INTEGER NOT NULL,
	PRIMARY KEY (reveal_id, staff_id)
) STRICT;
