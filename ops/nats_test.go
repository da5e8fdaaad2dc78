package ops

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRedactURL checks that no form of NATS URL an operator may write
// (one or a list, user and password, a token, a password with the
// characters that split URLs) keeps its secret.
func TestRedactURL(t *testing.T) {
	cases := []struct {
		name, raw, want string
	}{
		{"no credentials", "nats://nats:4222", "nats://nats:4222"},
		{"user and password", "nats://ingress:s3cret@nats:4222", "nats://ingress:xxxxx@nats:4222"},
		{"token", "nats://s3cret@nats:4222", "nats://xxxxx@nats:4222"},
		{"wrong scheme", "http://ingress:s3cret@nats:4222", "http://ingress:xxxxx@nats:4222"},
		{"no scheme", "ingress:s3cret@nats:4222", "ingress:xxxxx@nats:4222"},
		{"a list", "nats://a:s3cret@n1:4222,nats://a:s3cret@n2:4222", "nats://a:xxxxx@n1:4222,nats://a:xxxxx@n2:4222"},
		{"@ in the password", "nats://a:s3@cret@n1:4222", "nats://a:xxxxx@n1:4222"},
		{"comma in the password", "nats://a:s3,cret@n1:4222", "nats://a:xxxxx@n1:4222"},
		{":// in the password, no scheme", "a:s3://cret@n1:4222", "a:xxxxx@n1:4222"},
		{"percent-encoded", "nats://a:s3%2Fcret@n1:4222", "nats://a:xxxxx@n1:4222"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := RedactURL(tc.raw)
			require.Equal(t, tc.want, got)
			require.NotContains(t, got, "s3")
		})
	}
}

// TestParseReplicas checks the accepted range of OCR_NATS_REPLICAS.
func TestParseReplicas(t *testing.T) {
	for v, want := range map[string]int{"": 1, "1": 1, "3": 3, "5": 5} {
		n, err := ParseReplicas(EnvNATSReplicas, v)
		require.NoError(t, err, v)
		require.Equal(t, want, n, v)
	}
	for _, v := range []string{"0", "6", "-1", "three", "3.0", " 3"} {
		_, err := ParseReplicas(EnvNATSReplicas, v)
		require.ErrorIs(t, err, ErrReplicas, v)
		require.Contains(t, err.Error(), EnvNATSReplicas)
	}
}

// FuzzRedactURL checks that a password (without a comma, which no NATS
// URL list can hold unencoded) never survives redaction, whatever the
// scheme, user and host around it.
func FuzzRedactURL(f *testing.F) {
	f.Add("nats", "ingress", "s3cret", "nats:4222")
	f.Add("tls", "", "pw", "n1:4222,nats://n2:4222")
	f.Add("", "u", "a://b", "h")
	f.Add("http", "u@x", "p@q", "h/path")
	f.Fuzz(func(t *testing.T, scheme, user, password, host string) {
		if len(password) < 3 || strings.Contains(password, ",") || strings.ContainsAny(user, ":@,") || strings.Contains(host, "@") {
			t.Skip()
		}
		raw := user + ":" + password + "@" + host
		if scheme != "" {
			raw = scheme + "://" + raw
		}
		got := RedactURL(raw)
		if strings.Contains(scheme+"://"+user+":xxxxx@"+host, password) {
			return // the password is not what would give it away
		}
		require.NotContains(t, got, password)
	})
}
