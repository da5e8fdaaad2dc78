package ocr

import (
	"encoding/binary"
	"image"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/cer"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// TestReadMultiPageTIFF checks that every page of a scanner's multi-page
// TIFF is read, not only the first as Tesseract alone does.
func TestReadMultiPageTIFF(t *testing.T) {
	e := newEngine(t, engSpa)
	tiff := testimage.MultiPageTIFF(t,
		testimage.Render(t, "First page of the scan"),
		testimage.Render(t, "Second page of the scan"),
		testimage.Render(t, "Third and last page"),
	)
	require.Equal(t, FormatTIFF, Sniff(tiff))
	var progress [][2]int
	doc, err := e.ReadWith(tiff, Options{Languages: engSpa, Progress: func(done, pages int) {
		progress = append(progress, [2]int{done, pages})
	}})
	require.NoError(t, err)
	require.Equal(t, [][2]int{{1, 3}, {2, 3}, {3, 3}}, progress)
	require.Len(t, doc.Pages, 3)
	for i, want := range []string{"First page of the scan", "Second page of the scan", "Third and last page"} {
		require.Equal(t, i+1, doc.Pages[i].Number)
		require.Equal(t, want, cer.Normalize(doc.Pages[i].Text))
	}
	require.Equal(t, doc.Pages[0].Text+"\f"+doc.Pages[1].Text+"\f"+doc.Pages[2].Text, doc.Text)

	// One page stays an image, without a page list.
	single, err := e.Read(testimage.MultiPageTIFF(t, testimage.Render(t, "Only page")), engSpa)
	require.NoError(t, err)
	require.Nil(t, single.Pages)
	require.Equal(t, "Only page", cer.Normalize(single.Text))
}

func TestMultiPageTIFFRefused(t *testing.T) {
	e := newEngine(t, engSpa)
	small := image.NewGray(image.Rect(0, 0, 8, 8))
	pages := make([]*image.Gray, MaxPages+1)
	for i := range pages {
		pages[i] = small
	}
	_, err := e.Read(testimage.MultiPageTIFF(t, pages...), engSpa)
	require.ErrorIs(t, err, ErrTooManyPages)

	// The second page's directory claims 30000 x 30000 pixels: refused
	// before any page is decoded.
	bomb := testimage.MultiPageTIFF(t, small, small)
	second := binary.LittleEndian.Uint32(bomb[8+2+9*12:])
	binary.LittleEndian.PutUint32(bomb[second+2+8:], 30000)    // ImageWidth's value
	binary.LittleEndian.PutUint32(bomb[second+2+12+8:], 30000) // ImageLength's value
	_, err = e.Read(bomb, engSpa)
	require.ErrorIs(t, err, ErrImageTooLarge)
}

// FuzzTIFFPageSizes walks arbitrary directory chains: no panic, no endless
// loop, and never more than MaxPages sizes.
func FuzzTIFFPageSizes(f *testing.F) {
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x00\x01\x04\x00\x01\x00\x00\x00\x10\x00\x00\x00\x08\x00\x00\x00"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sizes, err := tiffPageSizes(data)
		if err == nil && len(sizes) > MaxPages {
			t.Fatalf("%d pages", len(sizes))
		}
	})
}

// TestReadSelectedPages: Options.Pages reads those pages only, numbered as
// in the document, with progress over them; a page past the end, of a
// document or of a single image, is a PageError.
func TestReadSelectedPages(t *testing.T) {
	e := newEngine(t, engSpa)
	tiff := testimage.MultiPageTIFF(t, testimage.Render(t, "First page"), testimage.Render(t, "Second page"), testimage.Render(t, "Third page"))
	var progress [][2]int
	doc, err := e.ReadWith(tiff, Options{Languages: engSpa, Pages: []int{1, 3}, Progress: func(done, pages int) {
		progress = append(progress, [2]int{done, pages})
	}})
	require.NoError(t, err)
	require.Len(t, doc.Pages, 2)
	require.Equal(t, 1, doc.Pages[0].Number)
	require.Equal(t, 3, doc.Pages[1].Number)
	require.Equal(t, "Third page", cer.Normalize(doc.Pages[1].Text))
	require.Equal(t, [][2]int{{1, 2}, {2, 2}}, progress)

	_, err = e.ReadWith(tiff, Options{Languages: engSpa, Pages: []int{2, 4}})
	var pe *PageError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, PageError{Page: 4, Pages: 3}, *pe)
	require.ErrorIs(t, err, ErrNoSuchPage)

	_, err = e.ReadWith(testimage.TextPNG(t, "One page"), Options{Languages: engSpa, Pages: []int{2}})
	require.ErrorIs(t, err, ErrNoSuchPage)
	one, err := e.ReadWith(testimage.TextPNG(t, "One page"), Options{Languages: engSpa, Pages: []int{1}})
	require.NoError(t, err)
	require.Equal(t, "One page", cer.Normalize(one.Text))
}
