package ocr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInstalled checks that the languages this platform relies on are
// found, and that osd, which cannot recognise text, is left out.
func TestInstalled(t *testing.T) {
	got, err := Installed()
	require.NoError(t, err)
	require.Contains(t, got, "eng")
	require.Contains(t, got, "spa")
	require.NotContains(t, got, "osd")
	require.IsIncreasing(t, got)
}

// TestCheckLanguages checks that only installed languages, each named once,
// are accepted.
func TestCheckLanguages(t *testing.T) {
	installed := []string{"eng", "spa"}
	cases := []struct {
		name    string
		want    []string
		wantErr bool
	}{
		{"one", []string{"eng"}, false},
		{"two in either order", []string{"spa", "eng"}, false},
		{"none", nil, true},
		{"unknown", []string{"eng", "klingon"}, true},
		{"empty name", []string{""}, true},
		{"osd is not a text language", []string{"osd"}, true},
		{"plus-joined is one unknown name", []string{"eng+spa"}, true},
		{"twice", []string{"eng", "eng"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLanguages(tc.want, installed)
			if !tc.wantErr {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnsupportedLanguage)
		})
	}
}
