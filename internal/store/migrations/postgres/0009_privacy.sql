-- The consent ledger: every grant and withdrawal, append-only; a subject's
-- current consent for a purpose and channel is its latest record (largest
-- audit_seq). No number: phone_index is the blind index of the number the
-- evidence proved, receipt the signed receipt (number masked). subject_id
-- is not a foreign key: erasure removes subjects, and what it leaves of
-- the ledger is its decision.
CREATE TABLE consents (
	id          TEXT    PRIMARY KEY,
	subject_id  TEXT    NOT NULL,
	purpose     TEXT    NOT NULL CHECK (purpose IN ('security_alerts', 'product_updates', 'assistant_calls', 'assistant_sms')),
	channel     TEXT    NOT NULL CHECK (channel IN ('sms', 'call', 'whatsapp')),
	action      TEXT    NOT NULL CHECK (action IN ('grant', 'withdraw')),
	method      TEXT    NOT NULL CHECK (method IN ('api', 'sms_reply')),
	evidence    TEXT    NOT NULL,
	phone_index BYTEA,
	actor       TEXT    NOT NULL,
	at          BIGINT  NOT NULL,
	audit_seq   BIGINT  NOT NULL UNIQUE,
	receipt     TEXT    NOT NULL
);
CREATE INDEX consents_subject ON consents (subject_id, audit_seq);

-- A subject's verifications, for its export.
CREATE INDEX verifications_subject ON verifications (subject_id, created_at);
