package store

import (
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgresPool returns a database/sql pool of pgx connections to url.
func openPostgresPool(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("invalid Postgres URL")
	}
	return sql.OpenDB(stdlib.GetConnector(*cfg)), nil
}
