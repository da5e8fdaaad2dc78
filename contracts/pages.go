package contracts

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxDocumentPages is the most pages a multi-page document may have, and so
// the highest page number OCRJob.Pages may name.
const MaxDocumentPages = 100

// ParsePages reads a page selection: page numbers and ranges from 1,
// separated by commas ("1-3,7", spaces allowed), each at most
// MaxDocumentPages. It returns the selected pages in ascending order,
// each once; nil for "".
func ParsePages(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if len(s) > 4*MaxDocumentPages {
		return nil, fmt.Errorf("pages: at most %d bytes", 4*MaxDocumentPages)
	}
	var picked [MaxDocumentPages + 1]bool
	for part := range strings.SplitSeq(s, ",") {
		from, to, isRange := strings.Cut(strings.TrimSpace(part), "-")
		lo, err := pageNumber(from)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = pageNumber(to); err != nil {
				return nil, err
			}
			if hi < lo {
				return nil, fmt.Errorf("pages: range %d-%d runs backwards", lo, hi)
			}
		}
		for p := lo; p <= hi; p++ {
			picked[p] = true
		}
	}
	var out []int
	for p, ok := range picked {
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func pageNumber(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > MaxDocumentPages {
		return 0, fmt.Errorf("pages: %q is not a page number from 1 to %d", strings.TrimSpace(s), MaxDocumentPages)
	}
	return n, nil
}
