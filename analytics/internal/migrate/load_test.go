package migrate

import (
	"os"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// TestLoad checks that migration files are read in version order, split
// into statements with comments dropped, and that a badly named, duplicated
// or empty file is refused.
func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	cases := []struct {
		name         string
		fsys         fstest.MapFS
		wantVersions []uint32
		wantStmts    [][]string
		wantErr      error
	}{
		{
			name: "ordered and split",
			fsys: fstest.MapFS{
				"0010_b.sql": file("-- comment; with a semicolon;\nCREATE TABLE b (x UInt8)\nENGINE = Memory;\n"),
				"0002_a.sql": file("CREATE TABLE a (x UInt8) ENGINE = Memory;\n\n-- between\nDROP TABLE a;"),
				"README.md":  file("not a migration"),
			},
			wantVersions: []uint32{2, 10},
			wantStmts: [][]string{
				{"CREATE TABLE a (x UInt8) ENGINE = Memory", "DROP TABLE a"},
				{"CREATE TABLE b (x UInt8)\nENGINE = Memory"},
			},
		},
		{name: "no files", fsys: fstest.MapFS{}},
		{name: "bad name", fsys: fstest.MapFS{"1_x.sql": file("SELECT 1;")}, wantErr: ErrBadName},
		{name: "version zero", fsys: fstest.MapFS{"0000_x.sql": file("SELECT 1;")}, wantErr: ErrBadName},
		{name: "short version", fsys: fstest.MapFS{"0001_x.sql": file("SELECT 1;"), "001_y.sql": file("SELECT 2;")}, wantErr: ErrBadName},
		{name: "same version twice", fsys: fstest.MapFS{"0001_x.sql": file("SELECT 1;"), "00001_y.sql": file("SELECT 2;")}, wantErr: ErrDuplicateVersion},
		{name: "only comments", fsys: fstest.MapFS{"0001_x.sql": file("-- nothing\n")}, wantErr: ErrEmpty},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(tc.fsys)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var versions []uint32
			var stmts [][]string
			for _, m := range got {
				versions = append(versions, m.Version)
				stmts = append(stmts, m.Statements)
				require.Len(t, m.Checksum, 64)
			}
			require.Equal(t, tc.wantVersions, versions)
			require.Equal(t, tc.wantStmts, stmts)
		})
	}
}

// TestLoadShipped checks that the migrations shipped in the binary load.
func TestLoadShipped(t *testing.T) {
	got, err := Load(os.DirFS("../../migrations"))
	require.NoError(t, err)
	require.NotEmpty(t, got)
	require.Equal(t, uint32(1), got[0].Version)
	require.Len(t, got[0].Statements, 2)
}
