package e2e

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// normalize applies the corpus's scoring rules: Unicode NFC, and every run of
// whitespace collapsed to one space, trimmed.
func normalize(s string) string {
	return strings.Join(strings.Fields(norm.NFC.String(s)), " ")
}

// CER is the character error rate of got against the reference: Levenshtein
// distance over the reference's length, both normalized.
func CER(reference, got string) float64 {
	r, g := []rune(normalize(reference)), []rune(normalize(got))
	if len(r) == 0 {
		if len(g) == 0 {
			return 0
		}
		return 1
	}
	prev := make([]int, len(g)+1)
	cur := make([]int, len(g)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(r); i++ {
		cur[0] = i
		for j := 1; j <= len(g); j++ {
			cost := 1
			if r[i-1] == g[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return float64(prev[len(g)]) / float64(len(r))
}
