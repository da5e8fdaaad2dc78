package ocr

import (
	"slices"
	"strings"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/tess"
)

// The text of a page is its blocks' text in reading order, which Tesseract
// gets wrong on some magazine and newspaper pages: a page's footer or a
// headline band below the columns comes out first or between two columns,
// and a drop cap's first line after its paragraph. readingOrder orders the
// blocks by recursive X-Y cuts (Nagy and Seth, 1984), the classic reading
// order of Manhattan layouts: the blocks are split into bands at the
// widest horizontal gap no block crosses, read top to bottom, else into
// columns at the widest vertical gap, read left to right, and so on
// within each part. Blocks no cut separates (text wrapped around a
// picture, a table's cells that overlap) keep Tesseract's order among
// themselves, so a page Tesseract reads as one block, or as blocks one
// under the other, comes out as before.

// orderedText joins the text of blocks in readingOrder, a blank line
// between two blocks; ok is false when there are fewer than two, for
// Tesseract's own text to be kept.
func orderedText(blocks []tess.Box) (string, bool) {
	if len(blocks) < 2 {
		return "", false
	}
	var b strings.Builder
	for i, k := range readingOrder(blocks) {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(blocks[k].Text)
	}
	b.WriteString("\n")
	return b.String(), true
}

// readingOrder returns the indexes of blocks in reading order.
func readingOrder(blocks []tess.Box) []int {
	idx := make([]int, len(blocks))
	for i := range idx {
		idx[i] = i
	}
	return xyCut(blocks, idx)
}

// xyCut orders the blocks idx (in Tesseract's order) by cutting them in
// two, then each part in turn: between columns when there are columns
// side by side (parts whose heights overlap), else between bands at the
// widest horizontal gap, else between what stands apart left and right.
func xyCut(blocks []tess.Box, idx []int) []int {
	if len(idx) < 2 {
		return idx
	}
	left, right, _ := cut(blocks, idx, func(b tess.Box) (int, int) { return b.Left, b.Right })
	first, second, _ := cut(blocks, idx, func(b tess.Box) (int, int) { return b.Top, b.Bottom })
	if left != nil && (first == nil || sideBySide(blocks, left, right)) {
		first, second = left, right
	}
	if first == nil {
		return uncut(blocks, idx)
	}
	return append(xyCut(blocks, first), xyCut(blocks, second)...)
}

// sideBySide says the heights of the blocks a and of the blocks b overlap.
func sideBySide(blocks []tess.Box, a, b []int) bool {
	top := func(idx []int) (int, int) {
		lo, hi := blocks[idx[0]].Top, blocks[idx[0]].Bottom
		for _, k := range idx[1:] {
			lo, hi = min(lo, blocks[k].Top), max(hi, blocks[k].Bottom)
		}
		return lo, hi
	}
	aTop, aBottom := top(a)
	bTop, bBottom := top(b)
	return min(aBottom, bBottom) > max(aTop, bTop)
}

// cut splits idx in two along one axis (span gives a block's extent on
// it) at the widest gap no block crosses, and returns the parts in axis
// order, each in Tesseract's order, and the gap; nil and -1 when there is
// none.
func cut(blocks []tess.Box, idx []int, span func(tess.Box) (int, int)) (first, second []int, gap int) {
	byStart := slices.Clone(idx)
	slices.SortStableFunc(byStart, func(a, b int) int {
		sa, _ := span(blocks[a])
		sb, _ := span(blocks[b])
		return sa - sb
	})
	gap, at := -1, 0
	_, reach := span(blocks[byStart[0]])
	for i, k := range byStart[1:] {
		start, end := span(blocks[k])
		if start >= reach && start-reach > gap {
			gap, at = start-reach, i+1
		}
		reach = max(reach, end)
	}
	if gap < 0 {
		return nil, nil, -1
	}
	first, second = slices.Clone(byStart[:at]), slices.Clone(byStart[at:])
	slices.Sort(first) // Tesseract's order within a part
	slices.Sort(second)
	return first, second, gap
}

// uncut orders blocks no cut separates: one beside the other (their
// heights overlap, their widths do not) left to right, else the higher
// first (a drop cap's line above its paragraph, a caption under the
// columns it sits between).
func uncut(blocks []tess.Box, idx []int) []int {
	out := slices.Clone(idx)
	slices.SortStableFunc(out, func(i, j int) int {
		a, b := blocks[i], blocks[j]
		xOverlap := min(a.Right, b.Right) > max(a.Left, b.Left)
		yOverlap := min(a.Bottom, b.Bottom) > max(a.Top, b.Top)
		if yOverlap && !xOverlap {
			return a.Left - b.Left
		}
		return a.Top - b.Top
	})
	return out
}
