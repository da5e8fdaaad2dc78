package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/cer"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
)

// row is one line of the corpus's MANIFEST.tsv.
type row struct {
	file, truth, category string
	langs                 []string
}

// score is one image's result.
type score struct {
	row
	distance, length int
	text             string
	took             time.Duration
	err              error
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("accuracy", flag.ContinueOnError)
	corpus := fs.String("corpus", filepath.Join("..", "shared", "ocr-corpus"), "the corpus folder, holding MANIFEST.tsv")
	only := fs.String("only", "", "score only the files whose path contains this")
	out := fs.String("out", "", "write each image's recognised text to this folder, as <image path>.txt, to compare with its ground truth")
	if err := fs.Parse(args); err != nil {
		return err
	}
	scores, err := scoreCorpus(ctx, *corpus, *only, *out)
	if err != nil {
		return err
	}
	report(stdout, scores)
	return nil
}

// scoreCorpus scores every image of the corpus whose path contains only,
// writing its text under out unless out is empty.
func scoreCorpus(ctx context.Context, corpus, only, out string) ([]score, error) {
	rows, err := readManifest(filepath.Join(corpus, "MANIFEST.tsv"))
	if err != nil {
		return nil, err
	}
	engines := map[string]*ocr.Engine{}
	defer func() {
		for _, e := range engines {
			e.Close()
		}
	}()
	var scores []score
	for _, r := range rows {
		if !strings.Contains(r.file, only) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key := strings.Join(r.langs, "+")
		if engines[key] == nil {
			if engines[key], err = ocr.New(r.langs); err != nil {
				return nil, err
			}
		}
		sc := scoreRow(engines[key], corpus, r)
		if out != "" && sc.err == nil {
			if err := writeText(out, r.file, sc.text); err != nil {
				return nil, err
			}
		}
		scores = append(scores, sc)
	}
	return scores, nil
}

// microAverage is the CER of the scores whose category keep accepts: their
// edit distances over their reference characters.
func microAverage(scores []score, keep func(category string) bool) (float64, int) {
	var distance, length, n int
	for _, s := range scores {
		if keep(s.category) {
			distance, length, n = distance+s.distance, length+s.length, n+1
		}
	}
	return rate(distance, length), n
}

// readManifest parses MANIFEST.tsv: file, ground truth file, language,
// source, source path, licence, category, ground truth origin.
func readManifest(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open the corpus manifest (is ../shared/ocr-corpus there? see -corpus): %w", err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		cols := strings.Split(sc.Text(), "\t")
		if line == 1 || len(cols) == 1 && cols[0] == "" {
			continue // the header, or a blank line
		}
		if len(cols) < 7 {
			return nil, fmt.Errorf("%s:%d: %d columns, want 8", path, line, len(cols))
		}
		rows = append(rows, row{file: cols[0], truth: cols[1], langs: strings.Split(cols[2], "+"),
			category: strings.TrimRight(strings.Fields(cols[6] + " ?")[0], ",;:")})
	}
	return rows, sc.Err()
}

func scoreRow(e *ocr.Engine, corpus string, r row) score {
	s := score{row: r}
	img, err := os.ReadFile(filepath.Join(corpus, r.file))
	truth, terr := os.ReadFile(filepath.Join(corpus, r.truth))
	if s.err = errors.Join(err, terr); s.err != nil {
		return s
	}
	start := time.Now()
	text, err := e.Recognize(img, r.langs)
	s.took = time.Since(start)
	ref := []rune(cer.Normalize(string(truth)))
	s.length = len(ref)
	if s.err = err; err != nil {
		s.distance = s.length // nothing read: every character missed
		return s
	}
	s.text = text
	s.distance = cer.Distance([]rune(cer.Normalize(text)), ref)
	return s
}

// writeText writes the text recognised in file under dir, keeping the
// file's folders.
func writeText(dir, file, text string) error {
	path := filepath.Join(dir, file+".txt")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// report prints every image, then every category and the whole corpus.
func report(w io.Writer, scores []score) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "image\tcategory\tCER\tchars\tms\t")
	type total struct{ distance, length, n int }
	byCat := map[string]*total{}
	var all total
	var took time.Duration
	for _, s := range scores {
		note := ""
		if s.err != nil {
			note = "  " + s.err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%d\t%d\t%s\n", s.file, s.category, rate(s.distance, s.length), s.length, s.took.Milliseconds(), note)
		t := byCat[s.category]
		if t == nil {
			t = &total{}
			byCat[s.category] = t
		}
		for _, t := range []*total{t, &all} {
			t.distance += s.distance
			t.length += s.length
			t.n++
		}
		took += s.took
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "category\timages\tCER\tchars\t\t")
	cats := make([]string, 0, len(byCat))
	for c := range byCat {
		cats = append(cats, c)
	}
	slices.SortFunc(cats, func(a, b string) int { return cmp.Compare(a, b) })
	for _, c := range cats {
		t := byCat[c]
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%d\t\t\n", c, t.n, rate(t.distance, t.length), t.length)
	}
	fmt.Fprintf(tw, "all (micro-average)\t%d\t%.4f\t%d\t%d\t\n", all.n, rate(all.distance, all.length), all.length, took.Milliseconds())
	tw.Flush()
}

func rate(distance, length int) float64 {
	if length == 0 {
		return 0
	}
	return float64(distance) / float64(length)
}
