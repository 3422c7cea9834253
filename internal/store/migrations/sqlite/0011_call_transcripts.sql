-- Transcripts of calls from numbers bound to a subject: the lines of what the
-- caller said and heard, as JSON sealed under the subject's data key (aad
-- "transcript:" + call id), so erasing the subject makes every copy
-- unreadable. Kept for sip.transcript_retention from the call's start.
CREATE TABLE call_transcripts (
	call_id    TEXT    PRIMARY KEY,
	subject_id TEXT    NOT NULL REFERENCES subjects (id),
	started_at INTEGER NOT NULL, -- the call's start, unix ms
	sealed     BLOB    NOT NULL
) STRICT;
CREATE INDEX call_transcripts_subject ON call_transcripts (subject_id);
CREATE INDEX call_transcripts_started_at ON call_transcripts (started_at);
