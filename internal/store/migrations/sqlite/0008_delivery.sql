-- Delivery receipts and failover. Each outbox row remembers which step of the
-- configured delivery chain it is on, which provider has it, and until when a
-- receipt is awaited before it moves to the next step. Each handover to a
-- provider is a delivery, known by (provider, provider_id), whose final receipt
-- is recorded once: a replayed callback finds it already set.
ALTER TABLE outbox ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN receipt_due INTEGER;
CREATE INDEX outbox_receipt_due ON outbox (state, receipt_due);

CREATE TABLE deliveries (
	provider    TEXT    NOT NULL,
	provider_id TEXT    NOT NULL,
	message_id  TEXT    NOT NULL,
	step        INTEGER NOT NULL,
	receipt     TEXT    NOT NULL CHECK (receipt IN ('', 'delivered', 'failed', 'timeout')),
	error       TEXT    NOT NULL,
	sent_at     INTEGER NOT NULL,
	receipt_at  INTEGER,
	PRIMARY KEY (provider, provider_id)
) STRICT;
CREATE INDEX deliveries_message ON deliveries (message_id);
CREATE INDEX deliveries_sent_at ON deliveries (sent_at);
