package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// jobOptions are a request's optional recognition settings.
type jobOptions struct {
	languages   []string
	pageSegMode int
	whitelist   string
	// outputs are the outputs asked for besides the text, nil for none.
	outputs []string
	// pages is the page selection as sent ("1-3,7"), checked.
	pages string
	// detectOrientation is nil for automatic.
	detectOrientation *bool
}

// optionFields are a request's option fields as sent: form values, or the
// JSON members of /uploadBase64 (pageSegMode as its decimal form).
type optionFields struct {
	languages, pageSegMode, whitelist, output, pages, detectOrientation string
}

// Bounds of the options, checked here so a malformed request is refused
// before its key is charged; the languages are checked against what the
// workers have installed by checkLanguages, and again by the worker.
const (
	maxLanguages   = 8
	maxLanguageLen = 32
)

// outputProblem is the message for a bad output field.
var outputProblem = "output must be a comma-separated list of " + strings.Join(contracts.Outputs, ", ") + " (each at most once)"

// parseOptions reads the optional fields languages ("eng+spa"),
// pageSegMode (1, or 3 to 13), whitelist and output ("text,words"),
// reporting every bad one.
func parseOptions(f optionFields) (jobOptions, error) {
	var o jobOptions
	var problems []string
	if languages := strings.TrimSpace(f.languages); languages != "" {
		o.languages = strings.Split(languages, "+")
		ok := len(o.languages) <= maxLanguages
		for i, l := range o.languages {
			ok = ok && l != "" && len(l) <= maxLanguageLen && !slices.Contains(o.languages[:i], l) && strings.IndexFunc(l, func(r rune) bool {
				return !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
			}) < 0
		}
		if !ok {
			problems = append(problems, "languages must be up to 8 distinct Tesseract language codes joined with +, such as eng+spa")
		}
	}
	if pageSegMode := strings.TrimSpace(f.pageSegMode); pageSegMode != "" {
		n, err := strconv.Atoi(pageSegMode)
		if err != nil || n < contracts.PageSegModeMin || n > contracts.PageSegModeMax || n == 2 {
			problems = append(problems, "pageSegMode must be 1 or 3 to 13 (Tesseract's page segmentation modes)")
		}
		o.pageSegMode = n
	}
	o.whitelist = f.whitelist
	if len(f.whitelist) > contracts.MaxWhitelist || !utf8.ValidString(f.whitelist) || strings.IndexFunc(f.whitelist, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		problems = append(problems, "whitelist must be at most 256 bytes of printable characters")
	}
	outputs, ok := parseOutputs(f.output)
	if !ok {
		problems = append(problems, outputProblem)
	}
	o.outputs = outputs
	if _, err := contracts.ParsePages(f.pages); err != nil {
		problems = append(problems, fmt.Sprintf("pages must be page numbers and ranges from 1 to %d, such as 1-3,7", contracts.MaxDocumentPages))
	} else {
		o.pages = strings.TrimSpace(f.pages)
	}
	switch strings.TrimSpace(f.detectOrientation) {
	case "":
	case "true":
		o.detectOrientation = new(bool)
		*o.detectOrientation = true
	case "false":
		o.detectOrientation = new(bool)
	default:
		problems = append(problems, "detectOrientation must be true or false")
	}
	if len(problems) > 0 {
		return jobOptions{}, apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, strings.Join(problems, "; "))
	}
	return o, nil
}

// parseOutputs reads the output field: names from contracts.Outputs joined
// with commas, each at most once, spaces around them allowed. It returns
// the names other than the text, which every result carries, in the order
// given (nil for none), and false when the field is not such a list.
func parseOutputs(s string) ([]string, bool) {
	if s = strings.TrimSpace(s); s == "" {
		return nil, true
	}
	var seen, extra []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(contracts.Outputs, name) || slices.Contains(seen, name) {
			return nil, false
		}
		seen = append(seen, name)
		if name != contracts.OutputText {
			extra = append(extra, name)
		}
	}
	return extra, true
}

// checkLanguages refuses a requested language that not every OCR worker
// has installed, when the API knows what they have; otherwise the worker
// refuses it after the key is charged.
func (a *api) checkLanguages(ctx context.Context, langs []string) error {
	if len(langs) == 0 || a.cfg.Languages == nil {
		return nil
	}
	installed, known := a.cfg.Languages.Installed(ctx)
	if !known {
		return nil
	}
	for _, l := range langs {
		if !slices.Contains(installed, l) {
			list := strings.Join(installed, ", ")
			if list == "" {
				list = "none"
			}
			return apierr.New(fiber.StatusBadRequest, apierr.UnsupportedLanguage,
				fmt.Sprintf("language %q is not installed; installed: %s", l, list))
		}
	}
	return nil
}

// boolField is a JSON boolean option as its form value: "" when absent.
func boolField(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}
