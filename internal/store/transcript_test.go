package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/dialogue"
	"github.com/ringfence/ringfence/internal/identity"
	"github.com/ringfence/ringfence/internal/vault"
	"github.com/ringfence/ringfence/internal/verify"
)

// Words only the transcript of these tests holds.
const (
	secretWords  = "marmalade zeppelin"
	secretAnswer = "quixotic fjord"
)

// saveCallTranscript saves a call from number at start and its transcript
// for subject, sealed as the phone line does.
func saveCallTranscript(t *testing.T, db *DB, s *services, id, number, subject string, start time.Time) []dialogue.TranscriptLine {
	t.Helper()
	ctx := t.Context()
	rec := &dialogue.CallRecord{ID: id, Trunk: "pbx", CallerIndex: s.keys.BlindIndex("phone", number), Start: start,
		Duration: time.Minute, Ended: dialogue.EndCallerHangup, Turns: 1, DisclosureHash: "d"}
	if err := db.SaveCall(ctx, rec); err != nil {
		t.Fatal(err)
	}
	var tr dialogue.Transcript
	tr.Assistant(0, "You are talking with an AI.", false)
	tr.Caller(2*time.Second, "tell me about "+secretWords)
	tr.Keyed(3 * time.Second)
	tr.Assistant(4*time.Second, "Here is a "+secretAnswer+" and more", true)
	data, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	err = db.SaveTranscript(ctx, id, subject, start, func(tx identity.DataKeys) ([]byte, error) {
		return identity.SealTranscript(s.keys, tx, subject, id, data, start)
	})
	if err != nil {
		t.Fatalf("SaveTranscript: %v", err)
	}
	return tr.Lines()
}

// openTranscripts opens every transcript kept for subject.
func openTranscripts(t *testing.T, db *DB, keys *vault.Keyring, subject string) (map[string][]dialogue.TranscriptLine, error) {
	t.Helper()
	sealed, err := db.TranscriptsOf(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := db.SubjectKey(t.Context(), subject)
	if errors.Is(err, identity.ErrNotFound) {
		wrapped = nil
	} else if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]dialogue.TranscriptLine)
	for id, b := range sealed {
		data, err := identity.OpenTranscript(keys, wrapped, subject, id, b)
		if err != nil {
			return out, err
		}
		if out[id], err = dialogue.ParseTranscript(data); err != nil {
			t.Fatal(err)
		}
	}
	return out, nil
}

func TestTranscriptRoundTrip(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		const number, other = "+14155550210", "+14155550211"
		v, err := s.verifyNumber(ctx, number, verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		sub := v.SubjectID
		want := saveCallTranscript(t, db, s, "call_1", number, sub, t0)

		got, err := openTranscripts(t, db, s.keys, sub)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(got["call_1"]) != len(want) {
			t.Fatalf("transcripts %v, want call_1 with %d lines", got, len(want))
		}
		for i := range want {
			if got["call_1"][i] != want[i] {
				t.Errorf("line %d = %+v, want %+v", i, got["call_1"][i], want[i])
			}
		}
		// Sealed for its call: under another call id it does not open.
		sealed, _ := db.TranscriptsOf(ctx, sub)
		wrapped, _ := db.SubjectKey(ctx, sub)
		if _, err := identity.OpenTranscript(s.keys, wrapped, sub, "call_2", sealed["call_1"]); err == nil {
			t.Error("a transcript opened under another call's id")
		}

		// A second transcript of one call, or one for a subject that does
		// not exist, is refused.
		err = db.SaveTranscript(ctx, "call_1", sub, t0, func(identity.DataKeys) ([]byte, error) { return []byte("x"), nil })
		if !errors.Is(err, identity.ErrConflict) {
			t.Errorf("second transcript of a call: %v, want ErrConflict", err)
		}
		err = db.SaveTranscript(ctx, "call_3", "sub_aaaaaaaaaaaaaaaaaaaaaaaaaa", t0, func(identity.DataKeys) ([]byte, error) {
			t.Error("sealed for a subject that does not exist")
			return []byte("x"), nil
		})
		if !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("transcript of an unknown subject: %v, want ErrNotFound", err)
		}

		// The calls of the subject's number, from a time on.
		saveCallTranscript(t, db, s, "call_4", number, sub, t0.Add(time.Hour))
		if err := db.SaveCall(ctx, &dialogue.CallRecord{ID: "call_5", Trunk: "pbx", CallerIndex: s.keys.BlindIndex("phone", other),
			Start: t0, Ended: dialogue.EndCallerHangup}); err != nil {
			t.Fatal(err)
		}
		calls, err := db.CallsFrom(ctx, s.keys.BlindIndexes("phone", number), t0.Add(time.Minute))
		if err != nil || len(calls) != 1 || calls[0].ID != "call_4" {
			t.Errorf("CallsFrom: %v, %v; want call_4 alone", calls, err)
		}
		calls, err = db.CallsFrom(ctx, s.keys.BlindIndexes("phone", number), t0)
		if err != nil || len(calls) != 2 || calls[0].ID != "call_1" || calls[1].ID != "call_4" {
			t.Errorf("CallsFrom: %v, %v; want call_1, call_4", calls, err)
		}
		if calls, err := db.CallsFrom(ctx, nil, t0); err != nil || len(calls) != 0 {
			t.Errorf("CallsFrom no index: %v, %v", calls, err)
		}
	})
}

// TestTranscriptSealedAndErased: no word of a transcript is in the
// database, and erasing its subject deletes it in the erasure's
// transaction and destroys the key that opens any copy of it.
func TestTranscriptSealedAndErased(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		const number = "+14155550220"
		v, err := s.verifyNumber(ctx, number, verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		sub := v.SubjectID
		keep, err := s.verifyNumber(ctx, "+14155550221", verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		saveCallTranscript(t, db, s, "call_a", number, sub, t0)
		saveCallTranscript(t, db, s, "call_b", "+14155550221", keep.SubjectID, t0)

		words := [][]byte{[]byte("marmalade"), []byte("zeppelin"), []byte("quixotic"), []byte("fjord")}
		checkNoWords := func(when string) {
			t.Helper()
			for _, b := range blobColumn(t, db, `SELECT sealed FROM call_transcripts`) {
				for _, w := range words {
					if bytes.Contains(bytes.ToLower(b), w) {
						t.Errorf("%s: a stored transcript holds %q", when, w)
					}
				}
			}
			if db.d != sqlite {
				return
			}
			if err := db.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(db.url + "*")
			if len(files) == 0 {
				t.Fatalf("no database files at %s", db.url)
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range words {
					if bytes.Contains(bytes.ToLower(b), w) {
						t.Errorf("%s: %s holds %q", when, filepath.Base(f), w)
					}
				}
			}
		}
		checkNoWords("kept")

		copied, _ := db.TranscriptsOf(ctx, sub)
		if len(copied) != 1 {
			t.Fatalf("%d transcripts of the subject", len(copied))
		}
		if _, err := s.ident.Erase(ctx, sub, sub, "test"); err != nil {
			t.Fatal(err)
		}
		if got, err := db.TranscriptsOf(ctx, sub); err != nil || len(got) != 0 {
			t.Errorf("transcripts after erasure: %d, %v", len(got), err)
		}
		if n := count(t, db, "call_transcripts"); n != 1 {
			t.Errorf("%d transcripts left, want the other subject's one", n)
		}
		// A copy taken before (a backup) no longer opens: its key is gone.
		if _, err := openTranscripts(t, db, s.keys, sub); err != nil {
			t.Fatal(err)
		}
		if _, err := identity.OpenTranscript(s.keys, nil, sub, "call_a", copied["call_a"]); !errors.Is(err, vault.ErrErased) {
			t.Errorf("open a copy after erasure: %v, want ErrErased", err)
		}
		if got, err := openTranscripts(t, db, s.keys, keep.SubjectID); err != nil || len(got) != 1 {
			t.Errorf("the other subject's transcript: %v, %v", got, err)
		}
		// A call ending after the erasure keeps nothing.
		err = db.SaveTranscript(ctx, "call_c", sub, t0, func(identity.DataKeys) ([]byte, error) {
			t.Error("sealed for an erased subject")
			return nil, nil
		})
		if !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("transcript after erasure: %v, want ErrNotFound", err)
		}
		if _, err := db.SubjectKey(ctx, sub); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("a data key came back for the erased subject: %v", err)
		}
		checkNoWords("after erasure")
	})
}

func TestTranscriptRetention(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		s := newServices(t, db, identity.TombstoneOff)
		const number = "+14155550230"
		v, err := s.verifyNumber(ctx, number, verify.PurposeSignup)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"call_old", "call_edge", "call_new"} {
			saveCallTranscript(t, db, s, id, number, v.SubjectID, t0.Add(time.Duration(i)*time.Hour))
		}
		n, err := db.PurgeTranscripts(ctx, t0.Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("PurgeTranscripts: %d, %v; want 1", n, err)
		}
		got, err := db.TranscriptsOf(ctx, v.SubjectID)
		if err != nil || len(got) != 2 || got["call_old"] != nil || got["call_edge"] == nil {
			t.Errorf("after the purge: %d transcripts, %v", len(got), err)
		}
		if n, err := db.PurgeTranscripts(ctx, t0.Add(time.Hour)); err != nil || n != 0 {
			t.Errorf("second purge: %d, %v", n, err)
		}
		if n, err := db.PurgeTranscripts(ctx, t0.Add(3*time.Hour)); err != nil || n != 2 {
			t.Errorf("purge of the rest: %d, %v", n, err)
		}
		// The call records stay: they hold no words.
		if n := count(t, db, "calls"); n != 3 {
			t.Errorf("%d call records left, want 3", n)
		}
	})
}

// blobColumn reads one BLOB column of every row a query returns.
func blobColumn(t *testing.T, db *DB, query string) [][]byte {
	t.Helper()
	rows, err := db.r.QueryContext(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
