package ocr

import (
	"context"
	"image"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/cer"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/tess"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
	xdraw "golang.org/x/image/draw"
)

var (
	engOnly = []string{"eng"}
	engSpa  = []string{"eng", "spa"}
)

// newEngine returns an Engine closed when the test ends.
func newEngine(t testing.TB, langs []string) *Engine {
	t.Helper()
	e, err := New(langs)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, e.Close()) })
	return e
}

// TestRecognizeDrawnText checks that Tesseract reads back exactly the text
// drawn into an image, in every encoding the worker accepts, with the
// client reused from one image to the next.
func TestRecognizeDrawnText(t *testing.T) {
	e := newEngine(t, engSpa)
	english := []string{"The quick brown fox jumps", "over the lazy dog 1234"}
	cases := []struct {
		name   string
		lines  []string
		format testimage.Format
		langs  []string
	}{
		{"png", english, testimage.PNG, engSpa},
		{"jpeg", english, testimage.JPEG, engSpa},
		{"gif", english, testimage.GIF, engSpa},
		{"bmp", english, testimage.BMP, engSpa},
		{"tiff", english, testimage.TIFF, engSpa},
		{"pgm", english, testimage.PGM, engSpa},
		{"eng only", english, testimage.PNG, engOnly},
		{"spanish accents", []string{"El niño comió jamón", "en la estación"}, testimage.PNG, []string{"spa", "eng"}},
		{"back to eng+spa", []string{"Hello again"}, testimage.PNG, engSpa},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := testimage.Encode(t, testimage.Render(t, tc.lines...), tc.format)
			got, err := e.Recognize(img, tc.langs)
			require.NoError(t, err)
			require.Equal(t, cer.Normalize(joinLines(tc.lines)), cer.Normalize(got))
		})
	}
}

// TestRecognizeBadInput checks that input Tesseract cannot read is refused
// with a specific error, even on a client that has already recognised an
// image (where gosseract returns "" and no error for undecodable bytes),
// and that the client still works afterwards.
func TestRecognizeBadInput(t *testing.T) {
	e := newEngine(t, engOnly)
	good := testimage.TextPNG(t, "Still working")
	cases := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"text bytes", []byte("plain text is not an image"), ErrUnsupportedMedia},
		{"png truncated after its header", good[:len(good)/2], ErrUnreadableImage},
		{"png truncated inside its header", good[:24], ErrUnreadableImage},
		{"tiff header only", []byte("II*\x00\x08\x00\x00\x00\x00\x00"), ErrUnreadableImage},
		{"webp header only", []byte("RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00"), ErrUnreadableImage},
		{"jpeg 2000 magic only", []byte("\x00\x00\x00\x0cjP  \r\n\x87\n"), ErrUnreadableImage},
		{"header of 20000x20000", []byte("P5\n20000 20000\n255\n\x00"), ErrImageTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Recognize(tc.data, engOnly)
			require.ErrorIs(t, err, tc.wantErr)
			got, err := e.Recognize(good, engOnly)
			require.NoError(t, err)
			require.Equal(t, "Still working", cer.Normalize(got))
		})
	}
}

// TestRecognizeBlank checks that a blank page is a success with no text,
// not an unreadable image.
func TestRecognizeBlank(t *testing.T) {
	e := newEngine(t, engOnly)
	got, err := e.Recognize(blankPNG(), engOnly)
	require.NoError(t, err)
	require.Empty(t, cer.Normalize(got))
}

// TestReopen checks that a closed engine makes a new client when used
// again, with the languages asked for.
func TestReopen(t *testing.T) {
	e := newEngine(t, engOnly)
	require.NoError(t, e.Close())
	got, err := e.Recognize(testimage.TextPNG(t, "Reopened"), engSpa)
	require.NoError(t, err)
	require.Equal(t, "Reopened", cer.Normalize(got))
	require.Equal(t, engSpa, e.langs)
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

// BenchmarkRecognize measures one recognition of a two-line image on a
// reused client.
func BenchmarkRecognize(b *testing.B) {
	e := newEngine(b, engSpa)
	img := testimage.TextPNG(b, "The quick brown fox jumps", "over the lazy dog 1234")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Recognize(img, engSpa); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRecognizeOptions checks a job's own page segmentation mode and
// character whitelist, and that the next job gets the defaults back.
func TestRecognizeOptions(t *testing.T) {
	e := newEngine(t, engSpa)
	line := testimage.TextPNG(t, "Invoice 2041 due 30.11")
	doc, err := e.ReadWith(line, Options{Languages: engSpa, PageSegMode: 7, Whitelist: "0123456789."})
	require.NoError(t, err)
	digits := doc.Text
	require.Contains(t, digits, "2041")
	require.Contains(t, digits, "30.11")
	require.Empty(t, strings.Trim(digits, "0123456789. \n"), "only whitelisted characters: %q", digits)
	plain, err := e.Recognize(line, engSpa)
	require.NoError(t, err)
	require.Contains(t, plain, "Invoice 2041 due 30.11", "the whitelist outlived its job")
}

// TestReadOutputs asks for every output of one page and checks each against
// the page and the others.
func TestReadOutputs(t *testing.T) {
	e := newEngine(t, engSpa)
	img := testimage.TextPNG(t, "Invoice 2041", "Total due 330")
	doc, err := e.ReadWith(img, Options{Languages: engSpa, Words: true, Lines: true, HOCR: true, TSV: true})
	require.NoError(t, err)
	require.Equal(t, "Invoice 2041\nTotal due 330", strings.TrimSpace(doc.Text))
	var words []string
	for _, w := range doc.Words {
		require.Equal(t, 1, w.Page)
		words = append(words, w.Text)
	}
	require.Equal(t, []string{"Invoice", "2041", "Total", "due", "330"}, words)
	require.Len(t, doc.Lines, 2)
	require.Equal(t, "Total due 330", doc.Lines[1].Text)
	require.Greater(t, doc.Lines[1].Top, doc.Lines[0].Top)
	require.True(t, strings.HasPrefix(doc.HOCR, "<?xml"), doc.HOCR)
	require.Contains(t, doc.HOCR, "id='page_1'")
	require.Contains(t, doc.HOCR, ">Invoice</span>")
	require.True(t, strings.HasSuffix(doc.HOCR, "</html>\n"))
	rows := strings.Split(strings.TrimSpace(doc.TSV), "\n")
	require.True(t, strings.HasPrefix(rows[0], "level\tpage_num\t"), rows[0])
	require.True(t, strings.HasSuffix(rows[len(rows)-1], "\t330"), rows[len(rows)-1])

	plain, err := e.ReadWith(img, Options{Languages: engSpa})
	require.NoError(t, err)
	require.Equal(t, doc.Text, plain.Text)
	require.Nil(t, plain.Words)
	require.Nil(t, plain.Lines)
	require.Empty(t, plain.HOCR)
	require.Empty(t, plain.TSV)
}

// TestReadOutputsPages: a multi-page TIFF's words carry their page numbers
// and its hOCR has one page div each.
func TestReadOutputsPages(t *testing.T) {
	e := newEngine(t, engSpa)
	tiff := testimage.MultiPageTIFF(t, testimage.Render(t, "First page"), testimage.Render(t, "Second page"))
	doc, err := e.ReadWith(tiff, Options{Languages: engSpa, Words: true, HOCR: true, TSV: true})
	require.NoError(t, err)
	var got []string
	for _, w := range doc.Words {
		got = append(got, strconv.Itoa(w.Page)+":"+w.Text)
	}
	require.Equal(t, []string{"1:First", "1:page", "2:Second", "2:page"}, got)
	require.Contains(t, doc.HOCR, "id='page_1'")
	require.Contains(t, doc.HOCR, "id='page_2'")
	require.Equal(t, 1, strings.Count(doc.HOCR, "<html"))
	require.Equal(t, 1, strings.Count(doc.TSV, "level\tpage_num"))
	require.Contains(t, doc.TSV, "\n1\t2\t")
}

// TestReadDeadline: past its deadline a recognition stops and the read
// fails with ErrDeadline (a context.DeadlineExceeded), and the engine reads
// the next page.
func TestReadDeadline(t *testing.T) {
	e := newEngine(t, engSpa)
	var lines []string
	for range 40 {
		lines = append(lines, "Pack my box with five dozen liquor jugs, pack my box with five dozen")
	}
	page := testimage.TextPNG(t, lines...)
	began := time.Now()
	_, err := e.ReadWith(page, Options{Languages: engSpa})
	require.NoError(t, err)
	whole := time.Since(began)

	began = time.Now()
	_, err = e.ReadWith(page, Options{Languages: engSpa, Deadline: began.Add(whole / 5)})
	took := time.Since(began)
	require.ErrorIs(t, err, ErrDeadline)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, took, whole*2/3, "stopped after %s of a %s page", took, whole)

	text, err := e.Recognize(testimage.TextPNG(t, "Next page"), engSpa)
	require.NoError(t, err)
	require.Equal(t, "Next page", strings.TrimSpace(text))
}

// TestReadTinyImage: text a few pixels high, which Tesseract misreads or
// misses at its size, is read from the image enlarged, and its boxes are in
// the tiny image's pixels.
func TestReadTinyImage(t *testing.T) {
	e := newEngine(t, engSpa)
	src := testimage.Render(t, "Invoice number 2041", "Total due 330.50")
	// Unenlarged, Tesseract reads "Invoice number 2041 REPASA" at 0.2 (CER
	// 0.4) and nothing at 0.15.
	for _, c := range []struct{ scale, maxCER float64 }{{0.2, 0.05}, {0.15, 0.2}} {
		scale := c.scale
		b := src.Bounds()
		tiny := image.NewGray(image.Rect(0, 0, int(float64(b.Dx())*scale), int(float64(b.Dy())*scale)))
		xdraw.CatmullRom.Scale(tiny, tiny.Bounds(), src, b, xdraw.Src, nil)
		doc, err := e.ReadWith(testimage.Encode(t, tiny, testimage.PNG), Options{Languages: engSpa, Words: true, TSV: true})
		require.NoError(t, err)
		require.LessOrEqual(t, cer.Rate(doc.Text, "Invoice number 2041 Total due 330.50"), c.maxCER, "at %.2f: %q", scale, doc.Text)
		require.NotEmpty(t, doc.Words)
		for _, w := range doc.Words {
			require.True(t, w.Left >= 0 && w.Right <= tiny.Bounds().Dx() && w.Top >= 0 && w.Bottom <= tiny.Bounds().Dy(),
				"%+v outside %v", w, tiny.Bounds())
		}
		last := strings.Split(strings.TrimSpace(doc.TSV), "\n")
		cols := strings.Split(last[len(last)-1], "\t")
		left, _ := strconv.Atoi(cols[6])
		require.Less(t, left, tiny.Bounds().Dx(), "TSV in the tiny image's pixels: %q", last[len(last)-1])
	}
}

func TestShrink(t *testing.T) {
	r := Reading{
		Words: []Box{{Page: 1, Box: tess.Box{Text: "a", Left: 30, Top: 31, Right: 61, Bottom: 90}}},
		HOCR:  "<span class='ocr_line' title=\"bbox 30 31 61 90; baseline 0.01 -7; x_size 36; x_descenders 9.5; x_ascenders 9\">",
		TSV:   "5\t1\t1\t1\t1\t1\t30\t31\t31\t59\t96.5\ta\n",
	}
	shrink(&r, 3)
	require.Equal(t, tess.Box{Text: "a", Left: 10, Top: 10, Right: 21, Bottom: 30}, r.Words[0].Box)
	require.Equal(t, "<span class='ocr_line' title=\"bbox 10 10 21 30; baseline 0.01 -2; x_size 12.00; x_descenders 3.17; x_ascenders 3.00\">", r.HOCR)
	require.Equal(t, "5\t1\t1\t1\t1\t1\t10\t10\t11\t20\t96.5\ta\n", r.TSV)
}
