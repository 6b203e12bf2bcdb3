// Package migrations embeds the SQL migrations applied by goose, in order of their numbers.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
