-- Call records are looked up by the caller's number index: a subject's
-- export lists the calls from its numbers, and an erasure takes the index
-- off them. Without an index both scanned every call, an erasure inside
-- the single writer's transaction.
CREATE INDEX calls_caller ON calls (caller_index) WHERE caller_index IS NOT NULL;
