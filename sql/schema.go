// Package schema holds meetpipe's MySQL schema as numbered migrations (NNNN_name.sql), applied in order by
// store.Migrate and recorded in schema_migrations.
//
// Rules for a new migration: never edit an applied file (its checksum is recorded and checked); add the
// next number instead. DDL commits implicitly in MySQL and MariaDB, so a migration that dies halfway is
// re-run from its first statement: write each statement so that running it twice is harmless (CREATE …
// IF NOT EXISTS), or keep the migration to one statement. Use only syntax that both MySQL 8 and MariaDB
// 10.6+ accept (no ADD COLUMN IF NOT EXISTS, no `AS new` row aliases, no utf8mb4_0900_* collations).
package schema

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
