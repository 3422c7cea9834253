package store

import (
	"bytes"
	"testing"
	"time"
)

func TestFraudState(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		if got, err := db.FraudState(t.Context()); err != nil || got != nil {
			t.Fatalf("empty state = %q, %v", got, err)
		}
		for _, data := range [][]byte{[]byte(`{"lists":[]}`), []byte(`{"lists":[{"kind":"country"}]}`)} {
			if err := db.SaveFraudState(t.Context(), data, time.Now()); err != nil {
				t.Fatal(err)
			}
			if got, err := db.FraudState(t.Context()); err != nil || !bytes.Equal(got, data) {
				t.Errorf("state = %q, %v; want %q", got, err, data)
			}
		}
	})
}
