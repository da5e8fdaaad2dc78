package callback

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestVerify checks that Verify accepts exactly what Sign produced, for the
// same body and secret, within the tolerance.
func TestVerify(t *testing.T) {
	body := []byte(`{"jobId":"job_1","status":"succeeded"}`)
	good := Sign(secret, now.Unix(), body)
	cases := []struct {
		name    string
		header  string
		body    []byte
		secret  []byte
		at      time.Time
		wantErr bool
	}{
		{"as signed", good, body, secret, now, false},
		{"within tolerance", good, body, secret, now.Add(4 * time.Minute), false},
		{"extra spaces", " t=" + good[2:len("t=1767225640")] + " , " + good[len("t=1767225640,"):], body, secret, now, false},
		{"too old", good, body, secret, now.Add(6 * time.Minute), true},
		{"body changed", good, []byte(`{"jobId":"job_1","status":"failed"}`), secret, now, true},
		{"other secret", good, body, []byte("another secret of thirty-two b!"), now, true},
		{"time changed", "t=1767225641" + good[len("t=1767225640"):], body, secret, now, true},
		{"no v1", "t=1767225640", body, secret, now, true},
		{"no t", good[len("t=1767225640,"):], body, secret, now, true},
		{"not hex", "t=1767225640,v1=zz", body, secret, now, true},
		{"empty", "", body, secret, now, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrBadSignature)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// TestPublic checks which addresses a callback may be sent to.
func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1:248:1893:25c8:1946": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::": false, "fe80::1": false,
		"fd00::1": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
	} {
		require.Equal(t, want, public(netip.MustParseAddr(addr)), addr)
	}
}
