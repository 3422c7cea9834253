-- verifications_pending_index (phone_index, channel, status) serves every
-- lookup by phone_index alone too; the single-column index only cost a
-- second random page per start.
DROP INDEX verifications_phone_index;
