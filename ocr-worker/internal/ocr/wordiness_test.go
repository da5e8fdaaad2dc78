package ocr

import (
	"testing"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/testimage"
	"github.com/stretchr/testify/require"
)

func TestMayBeTurned(t *testing.T) {
	eng := []string{"eng"}
	cases := []struct {
		name  string
		text  string
		langs []string
		want  bool
	}{
		{"prose", "This is a lot of 12 point text to test the ocr code and see if it works", eng, false},
		{"spanish prose", "El veloz murciélago hindú comía feliz cardillo y kiwi; la cigüeña tocaba el saxofón detrás del palenque", []string{"spa"}, false},
		{"a page read upside down", "“x0J AZe] ay] tano paduuní Bop umosgq yo I tuiod ZI", eng, true},
		{"too short to judge", "Tesseract.js", eng, false},
		{"a language the words are not of", "Zażółć gęślą jaźń, pchnąć w tę łódź jeża lub ośm skrzyń fig", []string{"pol"}, false},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, mayBeTurned(tc.text, tc.langs), tc.name)
	}
}

// TestRecognizeTurnedPage draws a page and turns it upside down and on both
// sides: Tesseract alone reads such pages as garbage; the engine detects
// the orientation and reads them as the upright page.
func TestRecognizeTurnedPage(t *testing.T) {
	e := newEngine(t, engSpa)
	// Orientation detection needs a page's worth of text.
	lines := []string{
		"This is a lot of text to test the code",
		"and see if it works on all types of pages",
		"that come in upside down or on their side.",
		"The quick brown fox jumps over the lazy dog",
		"while the five boxing wizards jump quickly,",
		"and a few more lines of plain English prose",
		"give the detector enough letters to judge",
		"which way is up before the page is read.",
	}
	page := testimage.Render(t, lines...)
	for name, o := range map[string]int{"upside down": 3, "turned left": 6, "turned right": 8} {
		turned := orient(page, o)
		got, err := e.Recognize(testimage.Encode(t, turned, testimage.PNG), engSpa)
		require.NoError(t, err, name)
		require.Contains(t, got, "see if it works on all types of pages", name)
	}
}

// TestOrientationOption: OrientNever leaves a turned page as Tesseract
// reads it upright; OrientAlways reads it after orientation detection even
// where the first reading would not have looked turned.
func TestOrientationOption(t *testing.T) {
	e := newEngine(t, engSpa)
	lines := []string{
		"This is a lot of text to test the code",
		"and see if it works on all types of pages",
		"that come in upside down or on their side.",
		"The quick brown fox jumps over the lazy dog",
		"while the five boxing wizards jump quickly,",
		"and a few more lines of plain English prose",
	}
	upsideDown := testimage.Encode(t, orient(testimage.Render(t, lines...), 3), testimage.PNG)
	never, err := e.ReadWith(upsideDown, Options{Languages: engSpa, Orientation: OrientNever})
	require.NoError(t, err)
	require.NotContains(t, never.Text, "see if it works", "OrientNever read the page turned")
	always, err := e.ReadWith(upsideDown, Options{Languages: engSpa, Orientation: OrientAlways})
	require.NoError(t, err)
	require.Contains(t, always.Text, "see if it works on all types of pages")
	upright, err := e.ReadWith(testimage.TextPNG(t, lines...), Options{Languages: engSpa, Orientation: OrientAlways})
	require.NoError(t, err)
	require.Contains(t, upright.Text, "see if it works on all types of pages")
}
