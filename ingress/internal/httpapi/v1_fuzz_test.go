package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
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
		in, image, err := parseV1JSON(body, limit)
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
		if len(image) > limit {
			t.Fatalf("accepted %d image bytes over the limit", len(image))
		}
		again := map[string]any{"image": base64.StdEncoding.EncodeToString(image), "languages": in.fields.languages,
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
		back, backImage, err := parseV1JSON(b, limit)
		if err != nil {
			t.Fatalf("re-encoded input %s refused: %v", b, err)
		}
		if string(backImage) != string(image) || back.fields != in.fields || back.callbackURL != in.callbackURL {
			t.Fatalf("round trip changed the input: %+v, then %+v", in, back)
		}
		if err := a.checkCallback(back.callbackURL); err != nil {
			t.Fatalf("re-encoded callbackUrl refused: %v", err)
		}
	})
}

// parseV1JSON reads a /v1 JSON body as v1Body does, its image kept in
// memory whatever its size.
func parseV1JSON(body []byte, maxImageBytes int) (v1Input, []byte, error) {
	form, imageErr, err := readJSONImage(context.Background(), bytes.NewReader(body), jsonSpec{field: "image",
		maxImage: int64(maxImageBytes), inline: contracts.InlineImageMax})
	if err != nil {
		return v1Input{}, nil, apierr.New(400, apierr.InvalidRequest, err.Error())
	}
	in, img, err := v1FromJSON(&form, imageErr, maxImageBytes)
	if err != nil {
		return v1Input{}, nil, err
	}
	return in, img.bytes, nil
}
