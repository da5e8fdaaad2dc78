package ocr

import (
	"fmt"
	"slices"

	"github.com/otiai10/gosseract/v2"
)

// notForText lists installed models that cannot recognise text: osd detects
// orientation and script only.
var notForText = []string{"osd"}

// Installed returns the sorted codes of the recognition languages that have
// a model in Tesseract's tessdata directory.
func Installed() ([]string, error) {
	all, err := gosseract.GetAvailableLanguages()
	if err != nil {
		return nil, fmt.Errorf("list tessdata languages: %w", err)
	}
	langs := slices.DeleteFunc(all, func(l string) bool { return slices.Contains(notForText, l) })
	slices.Sort(langs)
	return langs, nil
}

// CheckLanguages returns an error wrapping ErrUnsupportedLanguage when want
// is empty, names a language not in installed, or names one twice, so a
// job never makes an engine load models that are not there (a slow
// failure, and the engine must then load its own languages again).
func CheckLanguages(want, installed []string) error {
	if len(want) == 0 {
		return fmt.Errorf("%w: no language given", ErrUnsupportedLanguage)
	}
	for i, l := range want {
		if !slices.Contains(installed, l) {
			return fmt.Errorf("%w: %q is not installed", ErrUnsupportedLanguage, l)
		}
		if slices.Contains(want[:i], l) {
			return fmt.Errorf("%w: %q is listed twice", ErrUnsupportedLanguage, l)
		}
	}
	return nil
}
