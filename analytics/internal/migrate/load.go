// Package migrate applies the analytics schema to ClickHouse: versioned SQL
// files, embedded in the binary, run in order at start-up and recorded in
// the table schema_migrations, so that a second start-up applies nothing.
//
// ClickHouse has no transactional DDL. A migration is recorded only after
// all its statements succeeded, and one interrupted half way is run again
// from its first statement, so every statement must be safe to repeat
// (CREATE TABLE IF NOT EXISTS, ...). Two instances starting at once may both
// apply a migration; the same rule makes that harmless. The statements must
// also load on ClickHouse 18.16, which lacks ADD COLUMN IF NOT EXISTS: a
// later migration adding a column needs care.
//
// An applied migration must never change: its checksum is recorded, and a
// start-up that finds a different file for an applied version refuses to
// run.
package migrate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Errors in the set of migration files.
var (
	ErrBadName          = errors.New("bad migration file name")
	ErrDuplicateVersion = errors.New("duplicate migration version")
	ErrEmpty            = errors.New("migration has no statements")
)

// Migration is one versioned SQL file.
type Migration struct {
	// Version is the file name's leading number, at least 1.
	Version uint32
	// Name is the file name, for example 0001_events.sql.
	Name string
	// Statements are the file's statements, run one by one.
	Statements []string
	// Checksum is the SHA-256 of the file, hex-encoded.
	Checksum string
}

var fileName = regexp.MustCompile(`^(\d{4,9})_[a-z0-9_]+\.sql$`)

// Load reads the *.sql files at the root of fsys, sorted by version. A file
// holds statements each ending with a semicolon at the end of a line, and
// comment lines starting with "--"; a line inside a statement (a string
// literal) must not end with a semicolon.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []Migration
	for _, name := range names {
		m := fileName.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("%w: %s: want NNNN_lower_case_name.sql", ErrBadName, name)
		}
		version, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil || version == 0 {
			return nil, fmt.Errorf("%w: %s: version must be 1 to %d", ErrBadName, name, uint32(1<<32-1))
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		stmts := split(string(data))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrEmpty, name)
		}
		sum := sha256.Sum256(data)
		out = append(out, Migration{
			Version: uint32(version), Name: name, Statements: stmts, Checksum: hex.EncodeToString(sum[:]),
		})
	}
	slices.SortFunc(out, func(a, b Migration) int { return int(int64(a.Version) - int64(b.Version)) })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("%w: %s and %s", ErrDuplicateVersion, out[i-1].Name, out[i].Name)
		}
	}
	return out, nil
}

// split cuts a file into statements at semicolons that end a line. Lines
// that hold only a comment are dropped; empty pieces too.
func split(sql string) []string {
	var stmts []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for line := range strings.Lines(sql) {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		trimmed := strings.TrimRight(line, " \t\r\n")
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(trimmed, ";"))
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return stmts
}
