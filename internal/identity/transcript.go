package identity

import (
	"time"

	"github.com/ringfence/ringfence/internal/vault"
)

// transcriptAAD binds a sealed transcript to its call.
func transcriptAAD(callID string) []byte { return []byte("transcript:" + callID) }

// SealTranscript seals the transcript of a call under its subject's data
// key, which it creates if the subject has none yet, inside tx.
func SealTranscript(keys *vault.Keyring, tx DataKeys, subjectID, callID string, transcript []byte, now time.Time) ([]byte, error) {
	dk, err := DataKey(keys, tx, subjectID, now)
	if err != nil {
		return nil, err
	}
	return dk.Seal(transcript, transcriptAAD(callID)), nil
}

// OpenTranscript opens a transcript that SealTranscript sealed. wrapped is
// the subject's wrapped data key, nil when it has none: then the
// transcript is vault.ErrErased.
func OpenTranscript(keys *vault.Keyring, wrapped []byte, subjectID, callID string, sealed []byte) ([]byte, error) {
	if wrapped == nil {
		return nil, vault.ErrErased
	}
	dk, err := openDataKey(keys.Wrapper(), subjectID, wrapped)
	if err != nil {
		return nil, err
	}
	return dk.Open(sealed, transcriptAAD(callID))
}
