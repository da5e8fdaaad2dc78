// Package cer measures OCR accuracy as character error rate, the way the
// evaluation corpus (shared/ocr-corpus/README.md) scores it.
package cer

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Normalize applies Unicode NFC and collapses every run of whitespace to one
// space, dropping it at both ends.
func Normalize(s string) string {
	return strings.Join(strings.Fields(norm.NFC.String(s)), " ")
}

// Rate returns the Levenshtein distance between the normalised hypothesis
// and reference, in runes, divided by the normalised reference's length.
// Case and punctuation count. An empty reference gives 0 for an empty
// hypothesis and 1 otherwise.
func Rate(hypothesis, reference string) float64 {
	ref := []rune(Normalize(reference))
	d := Distance([]rune(Normalize(hypothesis)), ref)
	if len(ref) == 0 {
		return float64(min(d, 1))
	}
	return float64(d) / float64(len(ref))
}

// Distance is the Levenshtein distance between a and b: the fewest rune
// insertions, deletions and substitutions that turn a into b.
func Distance(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
