package ocr

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

// encodeHEIF turns a drawn page into a HEIC (or, with avif, an AVIF) file
// with libheif's heif-enc, which deps.sh installs with heif-convert.
func encodeHEIF(t *testing.T, png []byte, avif bool) []byte {
	t.Helper()
	_, err := exec.LookPath("heif-enc")
	require.NoError(t, err, "libheif-examples is required (deploy/scripts/deps.sh installs it)")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.heic")
	require.NoError(t, os.WriteFile(in, png, 0o600))
	args := []string{"-q", "90", "-o", out, in}
	if avif {
		args = append([]string{"-A"}, args...)
	}
	msg, err := exec.Command("heif-enc", args...).CombinedOutput()
	require.NoError(t, err, "%s", msg)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	return b
}

func TestRecognizeHEIF(t *testing.T) {
	e := newEngine(t, engSpa)
	page := testimage.TextPNG(t, "Photographed with a phone")
	for name, avif := range map[string]bool{"heic": false, "avif": true} {
		img := encodeHEIF(t, page, avif)
		require.Equal(t, FormatHEIF, Sniff(img), name)
		h, err := Inspect(img)
		require.NoError(t, err, name)
		require.Positive(t, h.Width, name)
		got, err := e.Recognize(img, engSpa)
		require.NoError(t, err, name)
		require.Contains(t, got, "Photographed with a phone", name)
	}
}

func TestHEIFRefused(t *testing.T) {
	e := newEngine(t, engSpa)
	good := encodeHEIF(t, testimage.TextPNG(t, "Big"), false)

	// A header declaring 30000 x 30000 pixels is refused before decoding.
	bomb := append([]byte(nil), good...)
	at := indexISPE(t, bomb)
	binary.BigEndian.PutUint32(bomb[at+8:], 30000)
	binary.BigEndian.PutUint32(bomb[at+12:], 30000)
	_, err := e.Recognize(bomb, engSpa)
	require.ErrorIs(t, err, ErrImageTooLarge)

	// A truncated file is unreadable, not a crash.
	_, err = e.Recognize(good[:len(good)/2], engSpa)
	require.ErrorIs(t, err, ErrUnreadableImage)
	_, err = e.Recognize([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), engSpa)
	require.ErrorIs(t, err, ErrUnreadableImage)
}

func indexISPE(t *testing.T, b []byte) int {
	t.Helper()
	for i := 0; i+4 <= len(b); i++ {
		if string(b[i:i+4]) == "ispe" {
			return i
		}
	}
	t.Fatal("no ispe box")
	return 0
}

// FuzzHEIFDimensions feeds the header scan arbitrary bytes: no panic, and
// sizes only when it found some.
func FuzzHEIFDimensions(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x14ispe\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x20"))
	f.Add([]byte("ispe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, h, err := heifDimensions(data)
		if err != nil && (w != 0 || h != 0) {
			t.Fatalf("sizes %dx%d with error %v", w, h, err)
		}
	})
}
