package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNATSURLRedacted checks that a refused OCR_NATS_URL is reported
// without its password.
func TestNATSURLRedacted(t *testing.T) {
	_, err := Load(func(k string) string {
		if k == "OCR_NATS_URL" {
			return "http://analytics:s3cret-pw@nats:4222"
		}
		return ""
	})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, `OCR_NATS_URL "http://analytics:xxxxx@nats:4222"`)
	require.NotContains(t, err.Error(), "s3cret-pw")
}

// FuzzLoadNATS checks that Load never panics on any OCR_NATS_URL and
// OCR_NATS_REPLICAS, and that a password in a refused URL never reaches
// the error.
func FuzzLoadNATS(f *testing.F) {
	f.Add("http", "s3cret", "3")
	f.Add("nats", "pw", "")
	f.Add("", "a@b", "x")
	f.Fuzz(func(t *testing.T, scheme, password, replicas string) {
		load := func(password string) error {
			_, err := Load(func(k string) string {
				switch k {
				case "OCR_NATS_URL":
					return scheme + "://analytics:" + password + "@nats:4222"
				case "OCR_NATS_REPLICAS":
					return replicas
				}
				return ""
			})
			return err
		}
		err := load(password)
		if err == nil || strings.Contains(password, ",") {
			return
		}
		// What the error says with a placeholder password, it may say anyway.
		if ref := load("\x00"); ref != nil && strings.Contains(ref.Error(), password) {
			return
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("the password %q is in the error: %v", password, err)
		}
	})
}
