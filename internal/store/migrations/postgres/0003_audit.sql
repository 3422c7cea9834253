-- Signed checkpoints of the audit log (RFC 6962 Merkle tree over
-- audit_events, leaf index seq-1), with the compact-range state that lets a
-- restarted service continue the tree without rehashing it.
CREATE TABLE audit_checkpoints (
	size       BIGINT PRIMARY KEY,
	root       BYTEA  NOT NULL,
	state      BYTEA  NOT NULL,
	note       TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);
