package ocr

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/cer"
	"github.com/stretchr/testify/require"
)

// corpusDir returns the shared evaluation corpus, which sits beside the
// repository (../shared/ocr-corpus from the directory holding go.work), or
// skips the test when it is absent. Its files are never copied into the
// repository: their licences differ.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.work above the test directory, so no corpus beside the repository")
		}
		dir = parent
	}
	corpus := filepath.Join(dir, "..", "shared", "ocr-corpus")
	if _, err := os.Stat(filepath.Join(corpus, "MANIFEST.tsv")); err != nil {
		t.Skipf("evaluation corpus not found at %s", corpus)
	}
	return corpus
}

// TestCorpusAccuracy checks recognition quality on real scans from the
// shared corpus: the clean phototest page, the same page in every other
// format the worker accepts (including WebP and JPEG 2000, which Go cannot
// encode for the synthetic tests) and turned three ways, and pages in
// columns. CER is scored as the corpus README says; `make accuracy`
// reports the whole corpus.
func TestCorpusAccuracy(t *testing.T) {
	corpus := corpusDir(t)
	e := newEngine(t, engSpa)
	cases := []struct {
		image, truth string
		wantFormat   Format
		maxCER       float64
	}{
		{"tesseract-ocr-test/phototest.tif", "tesseract-ocr-test/phototest.txt", FormatTIFF, 0.02},
		{"pytesseract/test.png", "tesseract-ocr-test/phototest.txt", FormatPNG, 0.05},
		{"pytesseract/test.jpg", "tesseract-ocr-test/phototest.txt", FormatJPEG, 0.05},
		{"pytesseract/test.gif", "tesseract-ocr-test/phototest.txt", FormatGIF, 0.05},
		{"pytesseract/test.bmp", "tesseract-ocr-test/phototest.txt", FormatBMP, 0.05},
		{"pytesseract/test.tiff", "tesseract-ocr-test/phototest.txt", FormatTIFF, 0.05},
		{"pytesseract/test.webp", "tesseract-ocr-test/phototest.txt", FormatWebP, 0.05},
		{"pytesseract/test.pgm", "tesseract-ocr-test/phototest.txt", FormatPNM, 0.05},
		{"pytesseract/test.ppm", "tesseract-ocr-test/phototest.txt", FormatPNM, 0.05},
		{"pytesseract/test.jpeg2000", "tesseract-ocr-test/phototest.txt", FormatJPEG2000, 0.05},
		{"tesseract-ocr-test/eurotext.tif", "tesseract-ocr-test/eurotext.txt", FormatTIFF, 0.05},
		// Turned pages: the tesseract command reads them at CER 0.82.
		{"tesseract-ocr-test/phototest-rotated-180.png", "tesseract-ocr-test/phototest.txt", FormatPNG, 0.05},
		{"tesseract-ocr-test/phototest-rotated-L.png", "tesseract-ocr-test/phototest.txt", FormatPNG, 0.05},
		{"tesseract-ocr-test/phototest-rotated-R.png", "tesseract-ocr-test/phototest.txt", FormatPNG, 0.05},
		// Columns: read as one block (the library's default page
		// segmentation) this page scores 0.79; in Tesseract's order of
		// blocks (its footer and a caption first) 0.078, in reading
		// order (order.go) 0.019.
		{"tesseract-ocr-test/8087_054.3B.tif", "tesseract-ocr-test/8087_054.3B.txt", FormatTIFF, 0.03},
		// Four columns, a drop cap and a headline band under them: 0.094
		// in Tesseract's order, 0.035 in reading order.
		{"tesseract-ocr-test/8071_093.3B.tif", "tesseract-ocr-test/8071_093.3B.txt", FormatTIFF, 0.05},
		// Two columns between full-width parts.
		{"ocrmypdf/linn.png", "ocrmypdf/linn.txt", FormatPNG, 0.03},
	}
	for _, tc := range cases {
		t.Run(tc.image, func(t *testing.T) {
			img, err := os.ReadFile(filepath.Join(corpus, tc.image))
			if os.IsNotExist(err) {
				t.Skipf("%s is not in this copy of the corpus", tc.image)
			}
			require.NoError(t, err)
			truth, err := os.ReadFile(filepath.Join(corpus, tc.truth))
			require.NoError(t, err)

			require.Equal(t, tc.wantFormat, Sniff(img))
			got, err := e.Recognize(img, engSpa)
			require.NoError(t, err)
			rate := cer.Rate(got, string(truth))
			t.Logf("CER %.4f (%d reference characters)", rate, len([]rune(cer.Normalize(string(truth)))))
			require.LessOrEqual(t, rate, tc.maxCER)
		})
	}
}
