package privacy

import (
	"crypto/ed25519"
	"fmt"
	"time"
)

// ReceiptVersion names the receipt format, after the Kantara Initiative
// Consent Receipt Specification v1.1.
const ReceiptVersion = "ringfence-consent-receipt-1 (after Kantara CR v1.1)"

// Receipt is what a person keeps of one consent change. The field names
// follow the Kantara Consent Receipt in snake case: issuer is the PII
// controller, subject the PII principal, issued_at the consent timestamp.
// It holds the number only masked.
type Receipt struct {
	Version              string   `json:"version"`
	ReceiptID            string   `json:"receipt_id"`
	Issuer               string   `json:"issuer"`
	IssuedAt             string   `json:"issued_at"` // RFC 3339, UTC, milliseconds
	Subject              string   `json:"subject"`
	Number               string   `json:"number,omitempty"` // masked: "+1 ••• ••• 0123"
	Purpose              string   `json:"purpose"`
	PurposeDescription   string   `json:"purpose_description"`
	Channel              string   `json:"channel"`
	Action               string   `json:"action"` // grant | withdraw
	ConsentType          string   `json:"consent_type"`
	CollectionMethod     string   `json:"collection_method"`
	Evidence             string   `json:"evidence,omitempty"`
	PIICategories        []string `json:"pii_categories"`
	ThirdPartyDisclosure bool     `json:"third_party_disclosure"`
	// AuditOrigin and AuditSeq name the audit log entry of the change, whose
	// inclusion proof /v1/audit/proofs/inclusion/{seq} gives.
	AuditOrigin string `json:"audit_origin"`
	AuditSeq    uint64 `json:"audit_seq"`
}

// SignedReceipt is a Receipt and its Signature, as the person keeps it.
type SignedReceipt struct {
	Receipt   Receipt   `json:"receipt"`
	Signature Signature `json:"signature"`
}

// timeFormat writes times in receipts and reports.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// receipt builds and signs the receipt of a ledger record.
func (s *Service) receipt(c *Consent, masked string) (*SignedReceipt, error) {
	consentType := "explicit"
	if c.Action == ActionWithdraw {
		consentType = "withdrawal"
	}
	r := Receipt{
		Version: ReceiptVersion, ReceiptID: c.ID, Issuer: s.cfg.Issuer, IssuedAt: c.At.UTC().Format(timeFormat),
		Subject: c.SubjectID, Number: masked, Purpose: string(c.Purpose), PurposeDescription: c.Purpose.Description(),
		Channel: string(c.Channel), Action: string(c.Action), ConsentType: consentType, CollectionMethod: c.Method,
		Evidence: c.Evidence, PIICategories: []string{"phone number"}, ThirdPartyDisclosure: false,
		AuditOrigin: s.cfg.Origin, AuditSeq: c.AuditSeq,
	}
	sig, err := s.signer.sign(domainReceipt, r)
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	return &SignedReceipt{Receipt: r, Signature: sig}, nil
}

// VerifyReceipt checks a receipt file offline: data must be one JSON object
// with "receipt" and "signature", and the signature must verify under the
// trusted key it names. It returns the receipt, or an error that wraps
// ErrSignature when the receipt was changed or signed by another key.
func VerifyReceipt(data []byte, trusted map[string]ed25519.PublicKey) (*Receipt, error) {
	var r Receipt
	if err := openSigned(data, "receipt", domainReceipt, trusted, &r); err != nil {
		return nil, err
	}
	if _, err := time.Parse(time.RFC3339, r.IssuedAt); err != nil {
		return nil, fmt.Errorf("privacy: receipt: issued_at: %w", err)
	}
	return &r, nil
}
