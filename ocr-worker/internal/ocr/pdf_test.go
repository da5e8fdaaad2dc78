package ocr

import (
	"os/exec"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// requirePoppler fails, rather than skips, without poppler-utils: make
// test installs it, and a PDF path that never runs is no test.
func requirePoppler(t *testing.T) {
	t.Helper()
	for _, c := range []string{"pdfinfo", "pdftotext", "pdftoppm"} {
		_, err := exec.LookPath(c)
		require.NoError(t, err, "poppler-utils is required (deploy/scripts/deps.sh installs it)")
	}
}

// TestReadPDF reads a two-page PDF as a word processor and a scanner would
// write it: the first page's text comes from its text layer, exactly; the
// second page, a scan, is rendered and recognised.
func TestReadPDF(t *testing.T) {
	requirePoppler(t)
	e := newEngine(t, engSpa)
	pdf := testimage.PDF(t,
		testimage.PDFPage{Text: "Invoice 2041 from the text layer"},
		testimage.PDFPage{Scan: testimage.Render(t, "A scanned page", "read by Tesseract")},
	)
	require.Equal(t, FormatPDF, Sniff(pdf))
	doc, err := e.Read(pdf, engSpa)
	require.NoError(t, err)
	require.Len(t, doc.Pages, 2)
	require.Equal(t, Page{Number: 1, Text: "Invoice 2041 from the text layer", FromTextLayer: true}, doc.Pages[0])
	require.Equal(t, 2, doc.Pages[1].Number)
	require.False(t, doc.Pages[1].FromTextLayer)
	require.Contains(t, doc.Pages[1].Text, "A scanned page")
	require.Equal(t, doc.Pages[0].Text+"\f"+doc.Pages[1].Text, doc.Text)

	// An image is one page, without a page list.
	img, err := e.Read(testimage.TextPNG(t, "Just an image"), engSpa)
	require.NoError(t, err)
	require.Nil(t, img.Pages)
	require.Contains(t, img.Text, "Just an image")
}

func TestReadPDFRefused(t *testing.T) {
	requirePoppler(t)
	e := newEngine(t, engSpa)
	_, err := e.Read([]byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"), engSpa)
	require.ErrorIs(t, err, ErrUnreadableImage)

	pages := make([]testimage.PDFPage, MaxPages+1)
	for i := range pages {
		pages[i] = testimage.PDFPage{Text: "x"}
	}
	_, err = e.Read(testimage.PDF(t, pages...), engSpa)
	require.ErrorIs(t, err, ErrTooManyPages)

	// Recognize takes images only.
	_, err = e.Recognize(testimage.PDF(t, testimage.PDFPage{Text: "x"}), engSpa)
	require.ErrorIs(t, err, ErrUnsupportedMedia)
}

func TestPageDPI(t *testing.T) {
	require.Equal(t, PDFDPI, pageSize{612, 792}.dpi(), "letter")
	huge := pageSize{72 * 100, 72 * 100} // 100 x 100 inches
	d := huge.dpi()
	require.Less(t, d, PDFDPI)
	require.LessOrEqual(t, float64(d*100)*float64(d*100), float64(MaxPixels))
	require.Equal(t, PDFDPI, pageSize{}.dpi(), "unknown size")
}
