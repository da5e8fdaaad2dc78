package ocr

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/cer"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// withOrientation returns a JPEG of img carrying an EXIF block that declares
// orientation o, in the byte order given. Writing to a bytes.Buffer cannot
// fail, nor can encoding a Gray image.
func withOrientation(img image.Image, o uint16, order binary.ByteOrder) []byte {
	var enc bytes.Buffer
	_ = jpeg.Encode(&enc, img, &jpeg.Options{Quality: 95})
	var tiff bytes.Buffer
	if order == binary.LittleEndian {
		tiff.WriteString("II")
	} else {
		tiff.WriteString("MM")
	}
	w := func(v any) { _ = binary.Write(&tiff, order, v) }
	w(uint16(42))
	w(uint32(8))      // first IFD right after the header
	w(uint16(2))      // two entries: something else, then the orientation
	w(uint16(0x010F)) // Make, ASCII, 4 bytes inline
	w(uint16(2))
	w(uint32(4))
	tiff.WriteString("Go\x00\x00")
	w(uint16(0x0112))
	w(uint16(3))
	w(uint32(1))
	w(o)
	w(uint16(0))
	w(uint32(0)) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	out := []byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(out[4:], uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, enc.Bytes()[2:]...) // the encoder's JPEG without its SOI
}

// TestOrient checks every EXIF orientation on a 3x2 image whose pixels are
// all different: stored as each orientation says, the upright image must
// come back.
func TestOrient(t *testing.T) {
	// Upright:  1 2 3
	//           4 5 6
	upright := &image.Gray{Pix: []byte{1, 2, 3, 4, 5, 6}, Stride: 3, Rect: image.Rect(0, 0, 3, 2)}
	stored := map[int]*image.Gray{
		1: upright,
		2: {Pix: []byte{3, 2, 1, 6, 5, 4}, Stride: 3, Rect: image.Rect(0, 0, 3, 2)},
		3: {Pix: []byte{6, 5, 4, 3, 2, 1}, Stride: 3, Rect: image.Rect(0, 0, 3, 2)},
		4: {Pix: []byte{4, 5, 6, 1, 2, 3}, Stride: 3, Rect: image.Rect(0, 0, 3, 2)},
		5: {Pix: []byte{1, 4, 2, 5, 3, 6}, Stride: 2, Rect: image.Rect(0, 0, 2, 3)},
		6: {Pix: []byte{3, 6, 2, 5, 1, 4}, Stride: 2, Rect: image.Rect(0, 0, 2, 3)}, // turned counter-clockwise
		7: {Pix: []byte{6, 3, 5, 2, 4, 1}, Stride: 2, Rect: image.Rect(0, 0, 2, 3)},
		8: {Pix: []byte{4, 1, 5, 2, 6, 3}, Stride: 2, Rect: image.Rect(0, 0, 2, 3)}, // turned clockwise
	}
	for o, g := range stored {
		got := orient(g, o)
		require.Equal(t, upright.Rect, got.Rect, "orientation %d", o)
		require.Equal(t, upright.Pix, got.Pix, "orientation %d", o)
	}
}

func TestEXIFOrientation(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for o := uint16(1); o <= 8; o++ {
			require.Equal(t, int(o), exifOrientation(withOrientation(img, o, order)), "%v %d", order, o)
		}
	}
	var plain bytes.Buffer
	require.NoError(t, jpeg.Encode(&plain, img, nil))
	require.Equal(t, 1, exifOrientation(plain.Bytes()), "no EXIF")
	bad := withOrientation(img, 6, binary.LittleEndian)
	bad[12] = 'X' // the TIFF byte order mark
	require.Equal(t, 1, exifOrientation(bad), "damaged EXIF is ignored")
	require.Equal(t, 1, exifOrientation(withOrientation(img, 9, binary.BigEndian)), "out of range")
	require.Equal(t, 1, exifOrientation([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF}), "truncated")
}

// TestRecognizeEXIFRotated draws a page, stores it turned as each rotating
// orientation describes, and checks the text comes out as from the upright
// page.
func TestRecognizeEXIFRotated(t *testing.T) {
	e := newEngine(t, engSpa)
	g := testimage.Render(t, "Sideways photos of receipts", "are read upright now")
	// The inverse of orient: how a camera stores an upright image.
	store := map[uint16]int{3: 3, 6: 8, 8: 6}
	for o, inverse := range store {
		data := withOrientation(orient(g, inverse), o, binary.BigEndian)
		got, err := e.Recognize(data, engSpa)
		require.NoError(t, err)
		require.Contains(t, got, "Sideways photos of receipts", "orientation %d", o)
	}
}

// TestCorpusEXIF runs the corpus's EXIF-rotated photos, CER 0.92 for the
// tesseract CLI.
func TestCorpusEXIF(t *testing.T) {
	corpus := corpusDir(t)
	e := newEngine(t, engSpa)
	for _, f := range []string{"tesseract-js/simple-90.jpg", "tesseract-js/simple-180.jpg"} {
		img, err := os.ReadFile(filepath.Join(corpus, f))
		if os.IsNotExist(err) {
			t.Skipf("%s is not in this copy of the corpus", f)
		}
		require.NoError(t, err)
		truth, err := os.ReadFile(filepath.Join(corpus, "tesseract-js/simple.gt.txt"))
		require.NoError(t, err)
		got, err := e.Recognize(img, engSpa)
		require.NoError(t, err)
		rate := cer.Rate(got, string(truth))
		t.Logf("%s: EXIF orientation %d, CER %.4f", f, exifOrientation(img), rate)
		require.LessOrEqual(t, rate, 0.05, f)
	}
}

// FuzzEXIFOrientation feeds the EXIF reader arbitrary bytes: it must never
// panic, and must answer 1 to 8.
func FuzzEXIFOrientation(f *testing.F) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	f.Add(withOrientation(img, 6, binary.LittleEndian)[:80])
	f.Add(withOrientation(img, 3, binary.BigEndian)[:80])
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := exifOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}
