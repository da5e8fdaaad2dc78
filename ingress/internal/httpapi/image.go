package httpapi

import (
	"context"

	"github.com/ocrstack/ocrstack/ingress/internal/idempotency"
	"github.com/ocrstack/ocrstack/ingress/internal/imagesniff"
)

// image is a request's image: its bytes, when they came in a buffered
// body or are few enough to ride inside the job message, or the Object
// Store object a multipart upload was streamed to.
type image struct {
	// bytes is the image, nil when it is stored (ref) or was dropped.
	bytes []byte
	// ref names the object holding the image, "" when there is none; it
	// is the request's to delete until a job takes it (run clears it).
	ref string
	// size is the image's length in bytes; an image dropped for being
	// over the limit counts one byte past it.
	size int64
	// format is imagesniff.Format of the image's first bytes.
	format string
}

// bytesImage is an image held in memory.
func bytesImage(b []byte) image {
	return image{bytes: b, size: int64(len(b)), format: imagesniff.Format(b)}
}

// handOver gives the image to its job: the bytes to queue, nil when it is
// stored. The request keeps neither, so that neither the object (the job
// deletes it) nor the bytes (free once queued) outlive their use while
// the request waits for the result.
func (img *image) handOver() []byte {
	b := img.bytes
	img.bytes, img.ref = nil, ""
	return b
}

// discardImage deletes img's object when no job took it.
func (a *api) discardImage(img *image) {
	if img.ref == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CallTimeout)
	defer cancel()
	if err := a.cfg.Jobs.DeleteImage(ctx, img.ref); err != nil {
		a.cfg.Logger.Warn("delete unused image", "job_id", img.ref, "err", err)
	}
	img.ref = ""
}

// imageRequestHash is idempotency.RequestHash(image, fields) of a request
// whose image was streamed to the Object Store: the image is read back,
// since the hash starts with its length. The encoding is RequestHash's
// (idempotency.RequestHashReader), so a retry hashes alike whichever way
// its image came.
func (a *api) imageRequestHash(ctx context.Context, img *image, fields map[string][]string) (string, error) {
	r, err := a.cfg.Jobs.OpenImage(ctx, img.ref)
	if err != nil {
		return "", err
	}
	defer r.Close()
	return idempotency.RequestHashReader(r, img.size, fields)
}
