-- Staff access: console accounts (argon2id password, TOTP secret sealed
-- under the vault, never in plaintext), their sessions (only the SHA-256 of
-- the token), reveal requests and their approvals.

CREATE TABLE staff (
	id             TEXT    PRIMARY KEY,
	email          TEXT    NOT NULL UNIQUE,
	role           TEXT    NOT NULL CHECK (role IN ('viewer', 'reviewer', 'approver', 'admin')),
	password_hash  TEXT    NOT NULL,
	totp_sealed    BYTEA   NOT NULL,
	totp_last_step BIGINT  NOT NULL DEFAULT 0,
	failed_logins  BIGINT  NOT NULL DEFAULT 0,
	locked_until   BIGINT,
	created_at     BIGINT  NOT NULL,
	disabled_at    BIGINT
);

CREATE TABLE staff_sessions (
	hash         BYTEA   PRIMARY KEY,
	staff_id     TEXT    NOT NULL REFERENCES staff (id),
	created_at   BIGINT  NOT NULL,
	expires_at   BIGINT  NOT NULL,
	last_seen_at BIGINT  NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- subject_id is not a foreign key: erasure removes subjects, and the
-- request stays as the record of what was asked.
CREATE TABLE reveal_requests (
	id               TEXT    PRIMARY KEY,
	subject_id       TEXT    NOT NULL,
	phone_index      BYTEA   NOT NULL,
	masked           TEXT    NOT NULL,
	-- the fixed list: there is no purpose for marketing or sharing
	purpose          TEXT    NOT NULL CHECK (purpose IN ('tos_review', 'legal', 'recovery_support', 'user_export')),
	justification    TEXT    NOT NULL,
	ticket           TEXT    NOT NULL,
	requested_by     TEXT    NOT NULL REFERENCES staff (id),
	approvals_needed BIGINT  NOT NULL,
	status           TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
	created_at       BIGINT  NOT NULL,
	expires_at       BIGINT  NOT NULL,
	approved_at      BIGINT,
	use_by           BIGINT,
	used_at          BIGINT,
	denied_by        TEXT    NOT NULL DEFAULT '',
	deny_reason      TEXT    NOT NULL DEFAULT '',
	denied_at        BIGINT
);
CREATE INDEX reveal_requests_status ON reveal_requests (status, created_at);
CREATE INDEX reveal_requests_subject ON reveal_requests (subject_id);

-- One approval per approver and request.
CREATE TABLE reveal_approvals (
	reveal_id TEXT    NOT NULL REFERENCES reveal_requests (id),
	staff_id  TEXT    NOT NULL REFERENCES staff (id),
	at        BIGINT  NOT NULL,
	PRIMARY KEY (reveal_id, staff_id)
);
