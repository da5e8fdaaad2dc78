package ocr

import (
	"strings"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/tess"
	"github.com/stretchr/testify/require"
)

// box is a block named text spanning x from left to right and y from top
// to bottom.
func box(text string, left, right, top, bottom int) tess.Box {
	return tess.Box{Text: text, Left: left, Right: right, Top: top, Bottom: bottom}
}

// TestReadingOrder checks the order of blocks on the layouts that need
// one, each given in the order Tesseract put them, and that layouts it
// reads right stay as they were.
func TestReadingOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks []tess.Box
		want   string
	}{
		{"one block", []tess.Box{box("a", 0, 100, 0, 100)}, "a"},
		{"blocks one under the other", []tess.Box{
			box("title", 100, 900, 0, 50), box("text", 0, 1000, 80, 500), box("more", 0, 1000, 520, 900),
		}, "title text more"},
		{"two columns whose paragraphs end at the same height", []tess.Box{
			// Tesseract's order is right; cutting across both columns at
			// the common gap first would read the top of both, then the
			// bottom of both.
			box("left-top", 0, 450, 100, 500), box("left-bottom", 0, 450, 530, 900),
			box("right-top", 500, 1000, 100, 500), box("right-bottom", 500, 1000, 530, 900),
		}, "left-top left-bottom right-top right-bottom"},
		{"a footer read first", []tess.Box{
			box("footer", 0, 700, 960, 990), box("left", 0, 480, 100, 900), box("right", 520, 1000, 100, 900),
		}, "left right footer"},
		{"a headline band under the columns, read between them", []tess.Box{
			box("col1", 0, 300, 0, 700), box("col2", 350, 650, 0, 700), box("headline", 350, 1000, 760, 820),
			box("col3", 700, 1000, 0, 700), box("byline", 350, 600, 840, 860),
		}, "col1 col2 col3 headline byline"},
		{"a drop cap's line after its paragraph", []tess.Box{
			box("paragraph", 0, 400, 40, 600), box("first line", 0, 400, 0, 80),
		}, "first line paragraph"},
		{"a caption between two columns it overlaps", []tess.Box{
			box("col1", 0, 500, 0, 1000), box("caption", 450, 600, 700, 800), box("col2", 550, 1000, 2, 1000),
		}, "col1 col2 caption"},
		{"a page number above the text, at the right", []tess.Box{
			box("183", 1400, 1480, 260, 300), box("text", 230, 490, 390, 540),
		}, "183 text"},
		{"two columns under a full-width heading", []tess.Box{
			box("heading", 0, 1000, 0, 50), box("right", 520, 1000, 100, 900), box("left", 0, 480, 100, 900),
		}, "heading left right"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, k := range readingOrder(tc.blocks) {
				got = append(got, tc.blocks[k].Text)
			}
			require.Equal(t, tc.want, strings.Join(got, " "))
		})
	}
}

// TestOrderedText checks how ordered blocks are joined, and that a page of
// fewer than two blocks keeps Tesseract's own text.
func TestOrderedText(t *testing.T) {
	_, ok := orderedText(nil)
	require.False(t, ok)
	_, ok = orderedText([]tess.Box{box("alone", 0, 10, 0, 10)})
	require.False(t, ok)
	text, ok := orderedText([]tess.Box{
		box("right column\nsecond line", 520, 1000, 0, 900), box("left column", 0, 480, 0, 900),
	})
	require.True(t, ok)
	require.Equal(t, "left column\n\nright column\nsecond line\n", text)
}

// FuzzReadingOrder checks that any blocks come out each exactly once.
func FuzzReadingOrder(f *testing.F) {
	f.Add([]byte{0, 10, 0, 10, 5, 20, 5, 20, 30, 40, 0, 40})
	f.Fuzz(func(t *testing.T, data []byte) {
		var blocks []tess.Box
		for i := 0; i+3 < len(data) && len(blocks) < 40; i += 4 {
			l, r := int(min(data[i], data[i+1])), int(max(data[i], data[i+1]))
			tp, b := int(min(data[i+2], data[i+3])), int(max(data[i+2], data[i+3]))
			blocks = append(blocks, box("", l, r+1, tp, b+1))
		}
		order := readingOrder(blocks)
		require.Len(t, order, len(blocks))
		seen := make([]bool, len(blocks))
		for _, k := range order {
			require.False(t, seen[k], "block %d twice", k)
			seen[k] = true
		}
	})
}
