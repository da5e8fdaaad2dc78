package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// FuzzV1Body checks the /v1 JSON body decoder, with the option and
// callbackUrl checks after it, on arbitrary bodies: it never panics; it
// refuses only with a public 4xx error; an image it accepts is within the
// limit; and whatever it accepts, encoded again, decodes to the same input
// and passes the same checks.
func FuzzV1Body(f *testing.F) {
	for _, s := range []string{
		`{"image":"iVBORw0KGgo=","languages":"eng+spa","pageSegMode":6,"whitelist":"0123456789","output":"text,words"}`,
		`{"image":"data:image/png;base64,iVBORw0KGgo=","callbackUrl":"https://example.com/hook?x=1"}`,
		`{"image":"iVBO\nRw0K-_","callbackUrl":"http://[::1]:80/a b"}`,
		`{"image":null}`, `{"image":""}`, `{"image":"x","language":"eng"}`, `{"image":"x"} {}`,
		`{"image":"iVBORw0KGgo=","pageSegMode":1e1}`, `[]`, `null`, ``, `{"callbackUrl":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	const limit = 1024
	f.Fuzz(func(t *testing.T, body []byte) {
		a := &api{cfg: Config{Callbacks: true}}
		in, err := parseV1JSON(body, limit)
		if err == nil {
			_, err = parseOptions(in.fields)
		}
		if err == nil {
			err = a.checkCallback(in.callbackURL)
		}
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Message == "" {
				t.Fatalf("refused with %v, want a public 4xx", err)
			}
			return
		}
		if len(in.image) > limit+3 {
			t.Fatalf("accepted %d image bytes over the limit", len(in.image))
		}
		again := map[string]any{"image": base64.StdEncoding.EncodeToString(in.image), "languages": in.fields.languages,
			"whitelist": in.fields.whitelist, "output": in.fields.output, "callbackUrl": in.callbackURL}
		if in.fields.pageSegMode != "" {
			n, err := strconv.Atoi(in.fields.pageSegMode)
			if err != nil {
				t.Fatalf("pageSegMode %q accepted", in.fields.pageSegMode)
			}
			again["pageSegMode"] = n
		}
		b, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseV1JSON(b, limit)
		if err != nil {
			t.Fatalf("re-encoded input %s refused: %v", b, err)
		}
		if string(back.image) != string(in.image) || back.fields != in.fields || back.callbackURL != in.callbackURL {
			t.Fatalf("round trip changed the input: %+v, then %+v", in, back)
		}
		if err := a.checkCallback(back.callbackURL); err != nil {
			t.Fatalf("re-encoded callbackUrl refused: %v", err)
		}
	})
}
