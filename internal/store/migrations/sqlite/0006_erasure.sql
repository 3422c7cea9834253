-- Per-subject data keys and erasure. A subject's numbers are sealed under its
-- own data key, stored here only wrapped by the keyring; erasure deletes the
-- row, so what was sealed under it can no longer be read anywhere.
CREATE TABLE subject_keys (
	subject_id TEXT    PRIMARY KEY,
	wrapped    BLOB    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

-- Subjects that were erased: the random id and the time, nothing else, so a
-- second erasure is answered as such.
CREATE TABLE erasures (
	subject_id TEXT    PRIMARY KEY,
	erased_by  TEXT    NOT NULL,
	erased_at  INTEGER NOT NULL
) STRICT;

-- Numbers of erased subjects, by a keyed index under the tombstone key, kept
-- for a fixed time so an erased number cannot farm new accounts.
CREATE TABLE tombstones (
	tomb_index BLOB    PRIMARY KEY,
	purpose    TEXT    NOT NULL CHECK (purpose IN ('abuse_prevention')),
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX tombstones_expires ON tombstones (expires_at);
