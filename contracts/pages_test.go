package contracts

import (
	"testing"
)

func TestParsePages(t *testing.T) {
	good := map[string][]int{
		"":        nil,
		"  ":      nil,
		"1":       {1},
		"3,1":     {1, 3},
		"1-3, 7":  {1, 2, 3, 7},
		"2-4,3-5": {2, 3, 4, 5},
		"100":     {100},
		" 5 - 6 ": {5, 6},
		"9-9":     {9},
	}
	for in, want := range good {
		got, err := ParsePages(in)
		if err != nil || len(got) != len(want) {
			t.Fatalf("ParsePages(%q) = %v, %v; want %v", in, got, err, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("ParsePages(%q) = %v; want %v", in, got, want)
			}
		}
	}
	for _, in := range []string{"0", "101", "1-", "-3", "3-1", "a", "1,,2", "1.5", "1-2-3", "-1"} {
		if got, err := ParsePages(in); err == nil {
			t.Errorf("ParsePages(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParsePages(f *testing.F) {
	for _, s := range []string{"1-3,7", "", "100", "3-1", "1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePages(s)
		if err != nil {
			return
		}
		for i, p := range got {
			if p < 1 || p > MaxDocumentPages || (i > 0 && p <= got[i-1]) {
				t.Fatalf("ParsePages(%q) = %v", s, got)
			}
		}
	})
}
