-- Verifications whose code a provider makes, sends and checks (Twilio Verify,
-- Vonage Verify v2): the provider's name and its id for the verification. Neither
-- is a number or a code.
ALTER TABLE verifications ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE verifications ADD COLUMN provider_ref TEXT NOT NULL DEFAULT '';
