-- The outbox is read by state: pending messages by due time (to claim),
-- sending ones by lease (to release), sent ones by receipt due time (to fail
-- over). An index per state holding only that state's rows replaces the three
-- indexes over every row, so a new message enters one index instead of
-- three, and a message that is done leaves them all. The queries name the
-- state as a literal so that the planner can use these.
DROP INDEX outbox_state_due;
DROP INDEX outbox_state_lease;
DROP INDEX outbox_receipt_due;
CREATE INDEX outbox_pending_due ON outbox (due_at, id) WHERE state = 'pending';
CREATE INDEX outbox_sending_lease ON outbox (lease_until) WHERE state = 'sending';
CREATE INDEX outbox_sent_receipt ON outbox (receipt_due, id) WHERE state = 'sent';
