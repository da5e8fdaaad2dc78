package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors fetching an image that no retry can fix.
var (
	errImageNotFound = errors.New("image not found")
	errImageTooBig   = errors.New("image larger than the byte limit")
)

// fetchTimeout bounds reading one image from the object store.
const fetchTimeout = 30 * time.Second

// fetch reads an image from the object store, refusing one larger than
// maxImageBytes before reading it.
func (w *Worker) fetch(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	obj, err := w.images.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("image %q: %w", name, errImageNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get image %q: %w", name, err)
	}
	defer obj.Close()
	info, err := obj.Info()
	if err != nil {
		return nil, fmt.Errorf("image %q info: %w", name, err)
	}
	if info.Size > uint64(w.maxImageBytes) {
		return nil, fmt.Errorf("image %q of %d bytes: %w", name, info.Size, errImageTooBig)
	}
	data, err := io.ReadAll(io.LimitReader(obj, w.maxImageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read image %q: %w", name, err)
	}
	if int64(len(data)) > w.maxImageBytes {
		return nil, fmt.Errorf("image %q: %w", name, errImageTooBig)
	}
	return data, nil
}
