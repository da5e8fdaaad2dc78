package tess

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

func newAPI(t *testing.T) *API {
	t.Helper()
	a, err := New("eng")
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.SetVariable("tessedit_pageseg_mode", "3"))
	return a
}

// TestOneRecognitionEveryOutput reads text, words, lines, hOCR and TSV from
// one recognition and checks they agree with each other and the page.
func TestOneRecognitionEveryOutput(t *testing.T) {
	a := newAPI(t)
	img := testimage.TextPNG(t, "HELLO WORLD", "QUICK BROWN FOX")
	require.NoError(t, a.SetImage(img))
	w, h := a.Size()
	require.NoError(t, a.Recognize(time.Time{}))

	text, err := a.Text()
	require.NoError(t, err)
	require.Contains(t, text, "HELLO WORLD")
	require.Contains(t, text, "QUICK BROWN FOX")

	words, err := a.Boxes(Word)
	require.NoError(t, err)
	var got []string
	for _, b := range words {
		got = append(got, b.Text)
		require.Greater(t, b.Confidence, 50.0, b.Text)
		require.True(t, 0 <= b.Left && b.Left < b.Right && b.Right <= w, "%+v in %dx%d", b, w, h)
		require.True(t, 0 <= b.Top && b.Top < b.Bottom && b.Bottom <= h, "%+v in %dx%d", b, w, h)
	}
	require.Equal(t, []string{"HELLO", "WORLD", "QUICK", "BROWN", "FOX"}, got)
	require.Less(t, words[0].Right, words[1].Left, "HELLO is left of WORLD")
	require.Less(t, words[0].Bottom, words[2].Bottom, "the second line is below the first")

	lines, err := a.Boxes(Line)
	require.NoError(t, err)
	require.Len(t, lines, 2)
	require.Equal(t, "HELLO WORLD", lines[0].Text)
	require.Equal(t, "QUICK BROWN FOX", lines[1].Text)
	require.LessOrEqual(t, lines[0].Left, words[0].Left)
	require.GreaterOrEqual(t, lines[0].Right, words[1].Right)

	hocr, err := a.HOCR(2)
	require.NoError(t, err)
	require.Contains(t, hocr, "class='ocr_page' id='page_2'")
	require.Contains(t, hocr, ">HELLO</span>")

	tsv, err := a.TSV(2)
	require.NoError(t, err)
	rows := strings.Split(strings.TrimSpace(tsv), "\n")
	require.Equal(t, strings.Count(TSVHeader, "\t"), strings.Count(rows[0], "\t"))
	require.True(t, strings.HasPrefix(rows[0], "1\t2\t"), "page row of page 2: %q", rows[0])
	require.True(t, strings.HasSuffix(rows[len(rows)-1], "\tFOX"), "last row: %q", rows[len(rows)-1])
}

// TestOutputsNeedRecognition: outputs are refused before a recognition and
// after the image changes, never silently re-recognised.
func TestOutputsNeedRecognition(t *testing.T) {
	a := newAPI(t)
	_, err := a.Text()
	require.Error(t, err)
	require.ErrorIs(t, a.Recognize(time.Time{}), ErrNoImage)
	require.NoError(t, a.SetImage(testimage.TextPNG(t, "ONE")))
	require.NoError(t, a.Recognize(time.Time{}))
	_, err = a.Text()
	require.NoError(t, err)
	require.NoError(t, a.SetImage(testimage.TextPNG(t, "TWO")))
	_, err = a.Boxes(Word)
	require.Error(t, err)
}

func TestSetImageRefusesUndecodable(t *testing.T) {
	a := newAPI(t)
	require.ErrorIs(t, a.SetImage(nil), ErrDecode)
	require.ErrorIs(t, a.SetImage([]byte("\x89PNG\r\n\x1a\nnot really")), ErrDecode)
	require.ErrorIs(t, a.Recognize(time.Time{}), ErrNoImage)
}

// TestDeadlineStopsRecognition: a long page with a short deadline returns
// ErrDeadline soon after the deadline, from Tesseract itself, and the API
// reads the next image normally.
func TestDeadlineStopsRecognition(t *testing.T) {
	a := newAPI(t)
	var lines []string
	for i := range 40 {
		lines = append(lines, strings.Repeat("PACK MY BOX WITH FIVE DOZEN LIQUOR JUGS ", 2)+string(rune('A'+i%26)))
	}
	require.NoError(t, a.SetImage(testimage.TextPNG(t, lines...)))
	full := time.Now()
	require.NoError(t, a.Recognize(time.Time{}))
	whole := time.Since(full)
	require.Greater(t, whole, 400*time.Millisecond, "the page must take long enough to stop")

	require.NoError(t, a.SetImage(testimage.TextPNG(t, lines...)))
	began := time.Now()
	err := a.Recognize(began.Add(whole / 4))
	took := time.Since(began)
	require.ErrorIs(t, err, ErrDeadline)
	require.Less(t, took, whole*3/4, "stopped at %s of a %s page", took, whole)

	require.NoError(t, a.SetImage(testimage.TextPNG(t, "AFTER")))
	require.NoError(t, a.Recognize(time.Now().Add(time.Minute)))
	text, err := a.Text()
	require.NoError(t, err)
	require.Equal(t, "AFTER", strings.TrimSpace(text))
}

func TestBadLanguage(t *testing.T) {
	_, err := New("no_such_language")
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrDecode))
}

// TestNoLeak reads the same page many times and checks the C heap does
// not grow with them: every string Tesseract returns is freed.
func TestNoLeak(t *testing.T) {
	a := newAPI(t)
	img := testimage.TextPNG(t, "HELLO WORLD", "QUICK BROWN FOX")
	read := func(n int) {
		for range n {
			require.NoError(t, a.SetImage(img))
			require.NoError(t, a.Recognize(time.Time{}))
			_, err := a.Text()
			require.NoError(t, err)
			_, err = a.HOCR(1)
			require.NoError(t, err)
			_, err = a.TSV(1)
			require.NoError(t, err)
			_, err = a.Boxes(Word)
			require.NoError(t, err)
		}
	}
	read(20) // warm up: models' caches fill
	runtime.GC()
	before := CHeapInUse()
	read(300)
	runtime.GC()
	grew := CHeapInUse() - before
	// Leaking every output string (as gosseract does) grows it by about
	// 600 KiB here; allocator noise is up to about 120 KiB.
	t.Logf("C heap grew %d bytes over 300 reads", grew)
	require.Less(t, grew, int64(200<<10), "C heap grew %d bytes over 300 reads", grew)
}
