package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ocr-worker/internal/ocr"
)

// publicError maps why a job failed to the code and message its producer
// sees. Messages are safe to show to an end user. A nil error is success.
func publicError(err error, installed []string) (contracts.Code, string) {
	var pageErr *ocr.PageError
	switch {
	case err == nil:
		return "", ""
	case errors.Is(err, ErrInvalidJob):
		// DecodeJob's own words, which say which rule the job broke.
		_, rule, _ := strings.Cut(err.Error(), ErrInvalidJob.Error()+": ")
		return contracts.CodeBadRequest, "invalid job: " + rule
	case errors.Is(err, ocr.ErrUnsupportedMedia):
		return contracts.CodeUnsupportedMedia, "the file is not an image or document in a supported format (PNG, JPEG, GIF, BMP, TIFF, WebP, PNM, JPEG 2000, HEIC, AVIF, PDF)"
	case errors.As(err, &pageErr):
		return contracts.CodePageOutOfRange, fmt.Sprintf("pages asks for page %d, but the document has %d page(s)", pageErr.Page, pageErr.Pages)
	case errors.Is(err, ocr.ErrTooManyPages):
		return contracts.CodeTooManyPages, fmt.Sprintf("the document has more than %d pages", ocr.MaxPages)
	case errors.Is(err, ocr.ErrUnreadableImage):
		return contracts.CodeUnreadableImage, "the image could not be decoded"
	case errors.Is(err, ocr.ErrImageTooLarge), errors.Is(err, errImageTooBig):
		return contracts.CodeImageTooLarge, fmt.Sprintf("the image is larger than %d megapixels or its file too big", ocr.MaxPixels/1_000_000)
	case errors.Is(err, ocr.ErrUnsupportedLanguage):
		return contracts.CodeUnsupportedLanguage, "languages must be distinct and among: " + strings.Join(installed, ", ")
	case errors.Is(err, errImageNotFound):
		return contracts.CodeNotFound, "the referenced image does not exist or has expired"
	case errors.Is(err, context.DeadlineExceeded):
		return contracts.CodeTimeout, "the job could not be completed in time"
	default:
		return contracts.CodeInternal, "the job could not be processed"
	}
}
