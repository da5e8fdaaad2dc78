package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/apierr"
)

// A JSON OCR request ({"imageBase64": "..."} on /uploadBase64, {"image":
// "..."} on /v1/ocr and /v1/jobs) is read as it arrives, never whole: the
// image member's string is unescaped and base64-decoded on the fly and the
// decoded image goes where a multipart file part goes (readImage: kept in
// memory up to contracts.InlineImageMax, else streamed to the Object
// Store), so a 20 MB image costs about one such buffer, not the body, its
// string and its decoding (100 MB) held at once. The other members are
// kept as they came, at most maxFormValue bytes of them, and decoded by
// encoding/json afterwards as before.
//
// What it accepts and refuses is what json.Unmarshal of the whole body
// followed by decodeBase64Image did, checked in this order: a malformed
// body (400), a missing image (400), an empty one (400), one too large
// (413, judged from the encoded length first, as before), then invalid
// base64 (400). Two differences: the image member given twice is refused
// (json.Unmarshal kept the last), and a data: URL's header before
// ";base64," may be at most maxDataURLHeader bytes.

// maxDataURLHeader bounds a data: URL's part before ";base64,".
const maxDataURLHeader = 1 << 10

// Errors of readJSONImage besides the body's, the store's and
// authorize's own.
var (
	// errJSONSyntax is a body that is not one JSON object, or has data
	// after it.
	errJSONSyntax = errors.New("malformed JSON body")
	// errImageNotString is the image member holding something other than
	// a string or null.
	errImageNotString = errors.New("the image member is not a string")
	// errImageTwice is the image member given twice.
	errImageTwice = errors.New("the image member is given twice")
	// errMembersTooLong is the members other than the image over
	// maxFormValue bytes.
	errMembersTooLong = errors.New("the members besides the image are too long")
	// errBase64 stops an image that is not base64 (the body is still
	// read to its end).
	errBase64 = errors.New("the image is not valid base64")
)

// jsonSpec says what readJSONImage keeps of a body.
type jsonSpec struct {
	// field names the image member, matched without regard to case as
	// encoding/json matches names.
	field string
	// maxImage, inline, object, store and authorize are readImage's (see
	// formSpec).
	maxImage  int64
	inline    int
	object    string
	store     imageStore
	authorize func(context.Context) error
}

// jsonForm is what readJSONImage kept of a body.
type jsonForm struct {
	// rest is the body's other members, as one JSON object.
	rest []byte
	// hasImage says the image member came with a string; encoded is the
	// string's length without whitespace (after a data: URL's header).
	hasImage bool
	encoded  int64
	// img is the decoded image; its size is maxImage+1 when it was over.
	img image
}

// readJSONImage reads a JSON object from body to its end. It returns what
// it kept even with an error, so that the caller can delete a stored image
// (form.img.ref). err is a body read error or a store error as it is, or
// errJSONSyntax, errImageNotString, errImageTwice or errMembersTooLong.
// imageErr, set only without err, is errBase64 or authorize's refusal:
// the caller checks the rest of the body first (see jsonImage).
func readJSONImage(ctx context.Context, body io.Reader, spec jsonSpec) (form jsonForm, imageErr, err error) {
	s := &jsonScanner{r: bufio.NewReaderSize(body, 32<<10)}
	var rest bytes.Buffer
	rest.WriteByte('{')
	seen := false
	err = func() error {
		if c, err := s.next(); err != nil {
			return err
		} else if c != '{' {
			return errJSONSyntax
		}
		c, err := s.next()
		if err != nil {
			return err
		}
		if c == '}' {
			return nil
		}
		for {
			if c != '"' {
				return errJSONSyntax
			}
			name, raw, err := s.key()
			if err != nil {
				return err
			}
			if c, err := s.next(); err != nil {
				return err
			} else if c != ':' {
				return errJSONSyntax
			}
			if strings.EqualFold(name, spec.field) {
				if seen {
					return errImageTwice
				}
				seen = true
				if form.hasImage, form.encoded, form.img, imageErr, err = s.image(ctx, spec); err != nil {
					return err
				}
			} else {
				if rest.Len() > 1 {
					rest.WriteByte(',')
				}
				rest.Write(raw)
				rest.WriteByte(':')
				if err := s.value(&rest); err != nil {
					return err
				}
				if rest.Len() > maxFormValue {
					return errMembersTooLong
				}
			}
			if c, err = s.next(); err != nil {
				return err
			}
			if c == '}' {
				return nil
			}
			if c != ',' {
				return errJSONSyntax
			}
			if c, err = s.next(); err != nil {
				return err
			}
		}
	}()
	if err == nil {
		// Nothing but white space may follow.
		if _, err = s.next(); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errJSONSyntax
		}
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = errJSONSyntax
	}
	rest.WriteByte('}')
	form.rest = rest.Bytes()
	if err != nil {
		return form, nil, err
	}
	return form, imageErr, nil
}

// readJSON reads a JSON OCR request's body (see readJSONImage) whose
// image is the member field, the key's as readForm's. err is public: the
// body's (bodyError), or 400 INVALID_REQUEST saying the body must be shape
// (or what is wrong with it). The caller deletes a stored image that no
// job took (discardImage(&form.img)), then decodes form.rest and passes
// imageErr to jsonImage.
func (a *api) readJSON(c *fiber.Ctx, key, field, shape string) (form jsonForm, imageErr, err error) {
	body := c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Request().Body())
	}
	body = &limitReader{r: body, max: int64(a.bodyLimit())}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	form, imageErr, err = readJSONImage(ctx, body, jsonSpec{field: field, maxImage: int64(a.cfg.MaxImageBytes),
		inline: contracts.InlineImageMax, object: newID("job"), store: a.cfg.Jobs, authorize: a.knownKey(key)})
	if err != nil && !errors.Is(err, errBodyTooLarge) {
		// fasthttp read a body whole before it was parsed: one past the
		// limit was a 413 however malformed.
		if _, rerr := io.Copy(io.Discard, body); errors.Is(rerr, errBodyTooLarge) {
			err = rerr
		}
	}
	switch {
	case err == nil:
		return form, imageErr, nil
	case errors.Is(err, errMembersTooLong):
		err = apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest,
			fmt.Sprintf("The members besides %q must be at most %d KiB", field, maxFormValue>>10))
	case errors.Is(err, errImageTwice):
		err = apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, fmt.Sprintf("The member %q is given twice", field))
	case errors.Is(err, errJSONSyntax), errors.Is(err, errImageNotString):
		err = apierr.New(fiber.StatusBadRequest, apierr.InvalidRequest, "The body must be "+shape)
	default:
		a.discardImage(&form.img)
		err = a.bodyError(c, err)
	}
	return form, nil, err
}

// jsonImage is the image of a JSON OCR request whose other members were
// decoded: 400 MISSING_IMAGE without one, then EMPTY_IMAGE, 413
// IMAGE_TOO_LARGE, INVALID_BASE64 (or authorize's refusal, imageErr) in
// the order decodeBase64Image checked them.
func jsonImage(form *jsonForm, imageErr error, field string, maxBytes int) (*image, error) {
	switch {
	case !form.hasImage:
		return nil, apierr.New(fiber.StatusBadRequest, apierr.MissingImage, fmt.Sprintf("The member %q is missing", field))
	case form.encoded == 0:
		return nil, apierr.New(fiber.StatusBadRequest, apierr.EmptyImage, "The image is empty")
	case int64(base64.StdEncoding.DecodedLen(int(min(form.encoded, math.MaxInt32)))) > int64(maxBytes)+3,
		form.img.size > int64(maxBytes):
		return nil, apierr.New(fiber.StatusRequestEntityTooLarge, apierr.ImageTooLarge, "The image is larger than the limit of "+mib(maxBytes))
	case errors.Is(imageErr, errBase64):
		return nil, apierr.New(fiber.StatusBadRequest, apierr.InvalidBase64, field+" is not valid base64")
	case imageErr != nil:
		return nil, imageErr
	case form.img.size == 0: // only padding
		return nil, apierr.New(fiber.StatusBadRequest, apierr.EmptyImage, "The image is empty")
	}
	return &form.img, nil
}
