package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
	"github.com/stretchr/testify/require"
)

// TestInternalProducer runs the README's internal-producer example,
// cmd/ocrsubmit, against a worker: an image small enough to ride in the job
// and one that goes through the object store both come back as text, and
// usage is recorded under the producer's name.
func TestInternalProducer(t *testing.T) {
	url := startNATS(t)
	startWorker(t, url, 30*time.Second)
	bin := filepath.Join(t.TempDir(), "ocrsubmit")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ocrsubmit")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	small, err := textimage.PNG([]string{"Sent straight to NATS"}, 40)
	require.NoError(t, err)
	lines := make([]string, 40)
	for i := range lines {
		lines[i] = "A large scan goes through the object store"
	}
	largePNG, err := textimage.PNG(lines, 40)
	require.NoError(t, err)
	large := pgm(t, largePNG) // uncompressed, so well over the inline limit
	require.Greater(t, len(large), contracts.InlineImageMax)

	dir := t.TempDir()
	for name, img := range map[string][]byte{"small.png": small, "large.pgm": large} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, img, 0o600))
		cmd := exec.Command(bin, "-url", url, "-producer", "billing-batch", path)
		out, err := cmd.Output()
		require.NoError(t, err, "%s: %s", name, out)
		var res contracts.OCRResult
		require.NoError(t, json.Unmarshal(out, &res), "%s", out)
		require.Equal(t, contracts.JobSucceeded, res.Status, name)
		want := "Sent straight to NATS"
		if name == "large.pgm" {
			want = "A large scan goes through the object store"
		}
		require.Contains(t, strings.Join(strings.Fields(res.Text), " "), want, name)
	}

	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	events, err := js.Stream(t.Context(), contracts.EventsStream)
	require.NoError(t, err)
	info, err := events.Info(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2, info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := events.GetMsg(t.Context(), seq)
		require.NoError(t, err)
		var ev contracts.UsageEvent
		require.NoError(t, json.Unmarshal(raw.Data, &ev))
		require.Equal(t, "billing-batch", ev.Producer)
	}
}

// pgm re-encodes a PNG as a binary PGM.
func pgm(t *testing.T, pngData []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngData))
	require.NoError(t, err)
	g, ok := img.(*image.Gray)
	require.True(t, ok, "textimage draws grey images")
	b := g.Bounds()
	out := fmt.Appendf(nil, "P5\n%d %d\n255\n", b.Dx(), b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		out = append(out, g.Pix[g.PixOffset(b.Min.X, y):g.PixOffset(b.Max.X, y)]...)
	}
	return out
}
