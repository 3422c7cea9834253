// Package rekey moves sealed values and keyed indexes to the newest key
// versions, table by table in batches, while the service keeps serving.
package rekey

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ringfence/ringfence/internal/access"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/phone"
	"github.com/ringfence/ringfence/internal/vault"
)

// Table names the columns of one table that a re-encryption reads and
// rewrites.
type Table struct {
	Name  string   // the table
	Key   string   // its primary key column; batches go in its order
	Cols  []string // columns handed to the rewrite, in this order
	Write int      // the first Write of Cols are rewritten
	// Also, if set, is a statement run with the new and the old value of
	// the first column whenever a rewrite changes it: another table that
	// refers to the row by that value, updated in the same transaction.
	Also string
	// Sealed are the indexes in Cols of the values the keyring sealed
	// under a number key, for Holding.
	Sealed []int
}

// Func rewrites one row. Given the values of Table.Cols (string, []byte or
// nil), it returns new values for the first Table.Write columns, or nil
// when the row is under the newest keys already. lock, if not nil, is taken
// with the transaction's Lock before the row is written.
type Func func(tx Tx, vals []any) (out []any, lock []byte, err error)

// Tx reads and stores the subjects' data keys inside a batch's
// transaction (identity.DataKeys).
type Tx = identity.DataKeys

// Batch is the outcome of one batch.
type Batch struct {
	Next     any // primary key of the last row read; nil once the table is done
	Seen     int // rows read
	Changed  int // rows rewritten
	Conflict int // rows someone else changed meanwhile, left for the next pass
}

// Store runs batches. RekeyBatch reads up to limit rows of t after the
// primary key after (from the start when nil), rewrites those fn changes in
// one transaction, and writes a row only if it still holds what was read,
// so a concurrent change is never overwritten.
type Store interface {
	RekeyBatch(ctx context.Context, t Table, after any, limit int, fn Func) (Batch, error)
	CountRows(ctx context.Context, table string) (int, error)
}

// Progress hears, after every batch, the rows read so far and the total
// rows of every table, and the rows rewritten.
type Progress func(done, total, changed int)

// Stats counts what Run did.
type Stats struct {
	Rows    int // rows read in the last pass
	Changed int // rows rewritten, over all passes
	Passes  int
}

// DefaultBatch is the batch size when Run is given 0.
const DefaultBatch = 500

// maxPasses bounds Run: a pass that meets conflicts is followed by another.
const maxPasses = 10

// Run re-encrypts every table: sealed numbers, codes, TOTP secrets and the
// subjects' wrapped data keys go under the newest number key, numbers of
// bindings sealed before data keys under their subject's data key, code MACs of
// pending verifications under the newest pepper, and blind indexes of
// numbers under the newest index key. It runs passes until one meets no
// concurrent change. Each batch is its own transaction, so an interrupted
// Run loses nothing and a new Run continues: rows already current are only
// read. Values that cannot be recomputed (indexes of client IPs and of
// idempotency keys, kept for a day; the append-only audit log) keep their
// version, and lookups try every loaded index key.
func Run(ctx context.Context, st Store, keys *vault.Keyring, batch int, progress Progress) (Stats, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	var stats Stats
	for stats.Passes < maxPasses {
		stats.Passes++
		stats.Rows = 0
		total := 0
		for _, t := range tables {
			n, err := st.CountRows(ctx, t.Name)
			if err != nil {
				return stats, err
			}
			total += n
		}
		conflicts := 0
		for _, t := range tables {
			fn := rewrites(keys)[t.Name]
			var after any
			for {
				b, err := st.RekeyBatch(ctx, t, after, batch, fn)
				if err != nil {
					return stats, fmt.Errorf("re-encrypt %s: %w", t.Name, err)
				}
				stats.Rows += b.Seen
				stats.Changed += b.Changed
				conflicts += b.Conflict
				if progress != nil {
					progress(stats.Rows, max(total, stats.Rows), stats.Changed)
				}
				if b.Next == nil {
					break
				}
				after = b.Next
			}
		}
		if conflicts == 0 {
			return stats, nil
		}
	}
	return stats, errors.New("re-encrypt: rows kept changing; run it again")
}

// tables lists what Run rewrites, in order: subject keys before bindings.
var tables = []Table{
	{Name: "subject_keys", Key: "subject_id", Cols: []string{"wrapped", "subject_id"}, Write: 1, Sealed: []int{0}},
	{Name: "bindings", Key: "phone_index", Cols: []string{"phone_index", "phone_sealed", "subject_id"}, Write: 2,
		Also: "UPDATE reveal_requests SET phone_index = ? WHERE phone_index = ?", Sealed: []int{1}}, // sealed before data keys
	{Name: "verifications", Key: "id",
		Cols:  []string{"phone_index", "prefix_index", "phone_sealed", "code_mac", "code_sealed", "id"},
		Write: 5, Sealed: []int{2, 4}},
	{Name: "staff", Key: "id", Cols: []string{"totp_sealed", "id"}, Write: 1, Sealed: []int{0}},
}

// Tables returns the tables Run rewrites.
func Tables() []Table { return append([]Table(nil), tables...) }

func bytesOf(v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

func stringOf(v any) string { return string(bytesOf(v)) }

// current reports whether a keyed index is under the newest key of p.
func current(keys *vault.Keyring, p vault.Purpose, index []byte) bool {
	v, ok := vault.IndexVersion(index)
	return !ok || v == keys.Newest(p)
}

// rewrites returns the rewrite of each table.
func rewrites(keys *vault.Keyring) map[string]Func {
	return map[string]Func{
		"subject_keys": func(_ Tx, vals []any) ([]any, []byte, error) {
			out, changed, err := identity.RewrapDataKey(keys.Wrapper(), stringOf(vals[1]), bytesOf(vals[0]))
			if err != nil || !changed {
				return nil, nil, err
			}
			return []any{out}, nil, nil
		},
		"staff": func(_ Tx, vals []any) ([]any, []byte, error) {
			out, changed, err := access.RekeyTOTP(keys, stringOf(vals[1]), bytesOf(vals[0]))
			if err != nil || !changed {
				return nil, nil, err
			}
			return []any{out}, nil, nil
		},
		"bindings": func(tx Tx, vals []any) ([]any, []byte, error) { return rekeyBinding(keys, tx, vals) },
		"verifications": func(_ Tx, vals []any) ([]any, []byte, error) {
			return rekeyVerification(keys, vals)
		},
	}
}

// rekeyBinding moves a binding's index to the newest index key, and a
// number sealed by the keyring before data keys under its subject's data
// key (made now if the subject has none). A number under a data key needs
// nothing more: the data key itself is rewrapped.
func rekeyBinding(keys *vault.Keyring, tx Tx, vals []any) ([]any, []byte, error) {
	index, sealed, subjectID := bytesOf(vals[0]), bytesOf(vals[1]), stringOf(vals[2])
	dataSealed := vault.DataKeySealed(sealed)
	if current(keys, vault.PurposeIndex, index) && dataSealed {
		return nil, nil, nil
	}
	wrapped, err := tx.SubjectKey(subjectID)
	if errors.Is(err, identity.ErrNotFound) {
		wrapped, err = nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	b := &identity.Binding{SubjectID: subjectID, PhoneIndex: index, PhoneSealed: sealed}
	e164, err := identity.OpenBinding(keys, wrapped, b)
	if err != nil {
		return nil, nil, fmt.Errorf("open binding of %s: %w", subjectID, err)
	}
	if !dataSealed {
		dk, err := identity.DataKey(keys, tx, subjectID, time.Now())
		if err != nil {
			return nil, nil, err
		}
		sealed = identity.SealNumber(dk, subjectID, e164)
	}
	index = keys.BlindIndex("phone", string(e164))
	return []any{index, sealed}, index, nil
}

// rekeyVerification moves a verification's number, index, prefix index,
// pending code and its MAC to the newest keys. An erased verification (its
// sealed number emptied) is left alone.
func rekeyVerification(keys *vault.Keyring, vals []any) ([]any, []byte, error) {
	index, prefix, sealed := bytesOf(vals[0]), bytesOf(vals[1]), bytesOf(vals[2])
	mac, code, id := bytesOf(vals[3]), bytesOf(vals[4]), stringOf(vals[5])
	if len(sealed) == 0 {
		return nil, nil, nil
	}
	codeOld := code != nil && (!keys.SealedCurrent(code) || !current(keys, vault.PurposePepper, mac))
	if current(keys, vault.PurposeIndex, index) && current(keys, vault.PurposeIndex, prefix) &&
		keys.SealedCurrent(sealed) && !codeOld {
		return nil, nil, nil
	}
	e164, err := keys.Open(sealed, []byte("phone:"+id))
	if err != nil {
		return nil, nil, fmt.Errorf("open verification %s: %w", id, err)
	}
	num, err := phone.Parse(string(e164), "")
	if err != nil {
		return nil, nil, fmt.Errorf("parse number of verification %s: %w", id, err)
	}
	outIndex := keys.BlindIndex("phone", num.E164())
	var outPrefix []byte
	if prefix != nil {
		outPrefix = keys.BlindIndex("prefix", num.Prefix())
	}
	outMAC, outCode := mac, code
	if code != nil {
		plain, err := keys.Open(code, []byte("code:"+id))
		if err != nil {
			return nil, nil, fmt.Errorf("open code of verification %s: %w", id, err)
		}
		outCode = keys.Seal(plain, []byte("code:"+id))
		if keys.CheckCode(mac, id, string(plain)) {
			outMAC = keys.CodeMAC(id, string(plain))
		}
	}
	return []any{outIndex, blobOrNil(outPrefix), keys.Seal(e164, []byte("phone:"+id)), blobOrNil(outMAC), blobOrNil(outCode)},
		outIndex, nil
}

// blobOrNil keeps a nil slice an untyped nil, so it is written as NULL.
func blobOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// Holding counts, per table, the values still sealed under version v of
// the number key: what retiring that version would make unreadable. It reads
// in batches of batch rows and writes nothing.
func Holding(ctx context.Context, st Store, keys *vault.Keyring, v uint32, batch int) (map[string]int, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	held := make(map[string]int)
	for _, t := range tables {
		count := func(_ Tx, vals []any) ([]any, []byte, error) {
			for _, i := range t.Sealed {
				if ver, ok := keys.SealedVersion(bytesOf(vals[i])); ok && ver == v {
					held[t.Name]++
				}
			}
			return nil, nil, nil
		}
		var after any
		for {
			b, err := st.RekeyBatch(ctx, t, after, batch, count)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", t.Name, err)
			}
			if b.Next == nil {
				break
			}
			after = b.Next
		}
	}
	return held, nil
}
