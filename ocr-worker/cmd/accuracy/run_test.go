package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadManifest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "MANIFEST.tsv")
	manifest := "file\tgt_file\tlanguage\tsource\tpath\tlicense\tcategory\tgt_origin\n" +
		"a.png\ta.txt\teng+spa\tx@1\tp\tMIT\tclean scan\tupstream\n\n" +
		"b.png\tb.txt\teng\tx@1\tp\tMIT\trotated 90\tupstream\n"
	require.NoError(t, os.WriteFile(path, []byte(manifest), 0o644))
	rows, err := readManifest(path)
	require.NoError(t, err)
	require.Equal(t, []row{
		{file: "a.png", truth: "a.txt", category: "clean", langs: []string{"eng", "spa"}},
		{file: "b.png", truth: "b.txt", category: "rotated", langs: []string{"eng"}},
	}, rows)

	require.NoError(t, os.WriteFile(path, []byte("header\nonly\ttwo\n"), 0o644))
	_, err = readManifest(path)
	require.ErrorContains(t, err, "MANIFEST.tsv:2")
	_, err = readManifest(filepath.Join(dir, "missing.tsv"))
	require.ErrorContains(t, err, "-corpus")
}

func TestReport(t *testing.T) {
	var out bytes.Buffer
	report(&out, []score{
		{row: row{file: "a.png", category: "clean"}, distance: 1, length: 100},
		{row: row{file: "b.png", category: "rotated"}, distance: 30, length: 100},
	})
	s := out.String()
	require.Contains(t, s, "0.0100")
	require.Contains(t, s, "0.3000")
	// (1 + 30) / (100 + 100)
	require.True(t, strings.Contains(s, "0.1550"), s)
}

// TestCorpusTargets runs the whole evaluation corpus (../shared/ocr-corpus
// beside the repository; skipped where it is not) and checks the worker's
// accuracy targets: a micro-averaged CER of at most 0.03 over the corpus
// (the tesseract command with its defaults: 0.067), and at most 0.05 on
// the turned pages and on those turned by their EXIF orientation (the
// command: 0.82 and 0.92).
func TestCorpusTargets(t *testing.T) {
	corpus := filepath.Join("..", "..", "..", "..", "shared", "ocr-corpus")
	if _, err := os.Stat(filepath.Join(corpus, "MANIFEST.tsv")); err != nil {
		t.Skipf("evaluation corpus not found at %s", corpus)
	}
	scores, err := scoreCorpus(t.Context(), corpus, "", "")
	require.NoError(t, err)
	for _, s := range scores {
		require.NoError(t, s.err, s.file)
	}
	var out bytes.Buffer
	report(&out, scores)
	t.Log("\n" + out.String())
	all, n := microAverage(scores, func(string) bool { return true })
	require.GreaterOrEqual(t, n, 40, "images scored")
	require.LessOrEqual(t, all, 0.03, "micro-average CER over the corpus")
	turned, n := microAverage(scores, func(c string) bool { return c == "rotated" || c == "EXIF" })
	require.GreaterOrEqual(t, n, 5, "turned images scored")
	require.LessOrEqual(t, turned, 0.05, "micro-average CER of the turned pages")
}
