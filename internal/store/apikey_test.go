package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ringfence/ringfence/internal/apikey"
)

func TestAPIKeys(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		keys := []apikey.Key{
			{ID: "k1", Name: "first", Role: apikey.RoleApp, CreatedAt: t0},
			{ID: "k2", Name: "second", Role: apikey.RoleStaff, CreatedAt: t0.Add(time.Minute)},
			{ID: "k3", Name: "third", Role: apikey.RoleAdmin, CreatedAt: t0.Add(2 * time.Minute)},
		}
		hashes := map[string][]byte{}
		for _, k := range keys {
			_, hash := apikey.Generate()
			hashes[k.ID] = hash
			if err := db.CreateAPIKey(ctx, k, hash); err != nil {
				t.Fatalf("CreateAPIKey(%s): %v", k.ID, err)
			}
		}
		got, err := db.APIKeyByHash(ctx, hashes["k2"])
		if err != nil || !reflect.DeepEqual(got, keys[1]) {
			t.Errorf("APIKeyByHash(k2) = %+v, %v; want %+v", got, err, keys[1])
		}
		if _, err := db.APIKeyByHash(ctx, apikey.Hash("rfk_unknown")); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("APIKeyByHash(unknown): %v, want ErrNotFound", err)
		}

		// Refused: a hash already stored, an id already stored, an unknown role, no hash.
		for name, tc := range map[string]struct {
			k    apikey.Key
			hash []byte
		}{
			"same hash": {apikey.Key{ID: "k4", Name: "x", Role: apikey.RoleApp, CreatedAt: t0}, hashes["k1"]},
			"same id":   {apikey.Key{ID: "k1", Name: "x", Role: apikey.RoleApp, CreatedAt: t0}, []byte("fresh")},
			"bad role":  {apikey.Key{ID: "k5", Name: "x", Role: "root", CreatedAt: t0}, []byte("fresh2")},
			"no hash":   {apikey.Key{ID: "k6", Name: "x", Role: apikey.RoleApp, CreatedAt: t0}, nil},
		} {
			if err := db.CreateAPIKey(ctx, tc.k, tc.hash); err == nil {
				t.Errorf("%s: CreateAPIKey succeeded", name)
			}
		}

		revokedAt := t0.Add(time.Hour)
		if err := db.RevokeAPIKey(ctx, "k2", revokedAt); err != nil {
			t.Fatalf("RevokeAPIKey: %v", err)
		}
		if err := db.RevokeAPIKey(ctx, "k2", revokedAt.Add(time.Hour)); err != nil {
			t.Errorf("revoking again: %v", err)
		}
		if _, err := db.APIKeyByHash(ctx, hashes["k2"]); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("APIKeyByHash(revoked): %v, want ErrNotFound", err)
		}
		if err := db.RevokeAPIKey(ctx, "nope", revokedAt); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("RevokeAPIKey(unknown): %v, want ErrNotFound", err)
		}
		if err := db.RevokeAPIKey(ctx, "k1", time.Time{}); err == nil {
			t.Error("RevokeAPIKey with a zero time succeeded")
		}

		list, err := db.ListAPIKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		revoked := keys[1]
		revoked.RevokedAt = revokedAt // the first revocation counts
		if want := []apikey.Key{keys[2], revoked, keys[0]}; !reflect.DeepEqual(list, want) {
			t.Errorf("ListAPIKeys:\n got %+v\nwant %+v", list, want)
		}
	})
}
