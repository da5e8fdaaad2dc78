package ocr

import (
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParallelInitKeepsStderr checks that starting engines at once, and
// switching their languages at once, leaves file descriptor 2 pointing where
// it pointed before: Tesseract's diagnostics go to its debug_file, never
// through descriptor 2 (gosseract, which the engine used to be built on,
// redirected it during each initialisation and could leave it there).
func TestParallelInitKeepsStderr(t *testing.T) {
	before := fdIdentity(t, 2)
	engines := make([]*Engine, 4)
	var wg sync.WaitGroup
	for i := range engines {
		wg.Go(func() {
			e, err := New(engOnly)
			require.NoError(t, err)
			engines[i] = e
		})
	}
	wg.Wait()
	require.Equal(t, before, fdIdentity(t, 2), "stderr after parallel New")

	img := blankPNG()
	for i, e := range engines {
		t.Cleanup(func() { require.NoError(t, e.Close()) })
		langs := engSpa
		if i%2 == 1 {
			langs = []string{"spa"}
		}
		wg.Go(func() {
			_, err := e.Recognize(img, langs)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Equal(t, before, fdIdentity(t, 2), "stderr after parallel language switches")
}

type fileID struct{ dev, ino uint64 }

func fdIdentity(t *testing.T, fd int) fileID {
	t.Helper()
	var st syscall.Stat_t
	require.NoError(t, syscall.Fstat(fd, &st))
	return fileID{uint64(st.Dev), uint64(st.Ino)}
}
