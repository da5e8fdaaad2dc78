package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ocrstack/ocrstack/contracts"
)

// Errors DecodeJob returns.
var (
	// ErrMalformedJob: the message is not a job that can be answered (not
	// JSON, or no valid job id to publish a result under). It is terminated.
	ErrMalformedJob = errors.New("malformed job")
	// ErrInvalidJob: the job has a valid id but breaks a rule; it is
	// answered with a failed result (contracts.CodeBadRequest).
	ErrInvalidJob = errors.New("invalid job")
)

// Limits on job fields.
const (
	maxJobIDLen    = 64
	maxImageRefLen = 255
)

// DecodeJob decodes and validates a job message. On ErrInvalidJob the
// returned job carries a valid JobID (and whatever else decoded), so a
// failed result can be addressed to it.
func DecodeJob(data []byte) (contracts.OCRJob, error) {
	var job contracts.OCRJob
	if err := json.Unmarshal(data, &job); err != nil {
		return contracts.OCRJob{}, fmt.Errorf("%w: %w", ErrMalformedJob, err)
	}
	if !ValidJobID(job.JobID) {
		return contracts.OCRJob{}, fmt.Errorf("%w: job id must be 1 to %d characters of [A-Za-z0-9_-]", ErrMalformedJob, maxJobIDLen)
	}
	hasImage, hasRef := len(job.Image) > 0, job.ImageRef != ""
	switch {
	case hasImage == hasRef:
		return job, fmt.Errorf("%w: exactly one of image and imageRef must be set", ErrInvalidJob)
	case len(job.ImageRef) > maxImageRefLen:
		return job, fmt.Errorf("%w: imageRef longer than %d bytes", ErrInvalidJob, maxImageRefLen)
	case job.PageSegMode != 0 && (job.PageSegMode < contracts.PageSegModeMin || job.PageSegMode > contracts.PageSegModeMax || job.PageSegMode == 2):
		return job, fmt.Errorf("%w: pageSegMode must be 1 or 3 to %d", ErrInvalidJob, contracts.PageSegModeMax)
	case !validWhitelist(job.Whitelist):
		return job, fmt.Errorf("%w: whitelist must be at most %d bytes of printable characters", ErrInvalidJob, contracts.MaxWhitelist)
	case !validPages(job.Pages):
		return job, fmt.Errorf("%w: pages must be page numbers and ranges from 1 to %d, such as 1-3,7", ErrInvalidJob, contracts.MaxDocumentPages)
	case !validOutputs(job.Outputs):
		return job, fmt.Errorf("%w: outputs must be distinct, among %s", ErrInvalidJob, strings.Join(contracts.Outputs, ", "))
	}
	return job, nil
}

func validPages(s string) bool {
	_, err := contracts.ParsePages(s)
	return err == nil
}

// validOutputs accepts distinct names from contracts.Outputs.
func validOutputs(outs []string) bool {
	for i, o := range outs {
		if !slices.Contains(contracts.Outputs, o) || slices.Contains(outs[:i], o) {
			return false
		}
	}
	return true
}

// validWhitelist accepts up to MaxWhitelist bytes of printable UTF-8: the
// string reaches Tesseract as a variable's value.
func validWhitelist(s string) bool {
	if len(s) > contracts.MaxWhitelist || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ValidJobID reports whether id is 1 to 64 characters of [A-Za-z0-9_-], so
// it is safe as a subject token and in a Nats-Msg-Id.
func ValidJobID(id string) bool {
	if len(id) == 0 || len(id) > maxJobIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
