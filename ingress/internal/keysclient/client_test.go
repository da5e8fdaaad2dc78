package keysclient

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/ingress/internal/natstest"
	"github.com/stretchr/testify/require"
)

func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	nc := natstest.Start(t)
	return nc
}

// TestCall checks the wire contract of a call: the JSON request and the
// request ID header go out, a reply decodes, a micro error reply becomes a
// *contracts.Error (message from the body, else from the header), and no
// answer is ErrUnavailable, as is an UNAVAILABLE reply (keyservice's
// storage did not answer), which also keeps its *contracts.Error.
func TestCall(t *testing.T) {
	nc := startNATS(t)
	c := New(nc, 200*time.Millisecond)
	var gotBody, gotID string
	_, err := nc.Subscribe(contracts.SubjectKeysGet, func(m *nats.Msg) {
		gotBody, gotID = string(m.Data), m.Header.Get(contracts.HeaderRequestID)
		_ = m.Respond([]byte(`{"keyId":"key_1","start":"ocr_1","enabled":true,"createdAt":1}`))
	})
	require.NoError(t, err)
	_, err = nc.Subscribe(contracts.SubjectKeysDelete, func(m *nats.Msg) {
		out := nats.NewMsg(m.Reply)
		out.Header.Set(micro.ErrorHeader, "header text")
		out.Header.Set(micro.ErrorCodeHeader, string(contracts.CodeNotFound))
		out.Data, _ = json.Marshal(contracts.Error{Code: contracts.CodeNotFound, Message: "no such key"})
		_ = m.RespondMsg(out)
	})
	require.NoError(t, err)
	_, err = nc.Subscribe(contracts.SubjectKeysUpdate, errorReply(contracts.CodeUnavailable))
	require.NoError(t, err)
	_, err = nc.Subscribe(contracts.SubjectKeysWhoami, func(m *nats.Msg) {
		out := nats.NewMsg(m.Reply)
		out.Header.Set(micro.ErrorHeader, "bad key")
		out.Header.Set(micro.ErrorCodeHeader, string(contracts.CodeBadRequest))
		_ = m.RespondMsg(out)
	})
	require.NoError(t, err)

	var k contracts.KeyInfo
	ctx := WithRequestID(context.Background(), "req-1")
	require.NoError(t, c.Call(ctx, contracts.SubjectKeysGet, contracts.GetKeyRequest{KeyID: "key_1"}, &k))
	require.JSONEq(t, `{"keyId":"key_1"}`, gotBody)
	require.Equal(t, "req-1", gotID)
	require.Equal(t, contracts.KeyInfo{KeyID: "key_1", Start: "ocr_1", Enabled: true, CreatedAt: 1}, k)

	var ce *contracts.Error
	err = c.Call(ctx, contracts.SubjectKeysDelete, contracts.DeleteKeyRequest{KeyID: "key_1"}, &contracts.Empty{})
	require.ErrorAs(t, err, &ce)
	require.Equal(t, contracts.Error{Code: contracts.CodeNotFound, Message: "no such key"}, *ce)

	err = c.Call(ctx, contracts.SubjectKeysWhoami, contracts.WhoamiRequest{Key: "k"}, &k)
	require.ErrorAs(t, err, &ce)
	require.Equal(t, contracts.Error{Code: contracts.CodeBadRequest, Message: "bad key"}, *ce)

	err = c.Call(ctx, contracts.SubjectKeysList, contracts.ListKeysRequest{APIID: "api_1"}, &contracts.ListKeysResponse{})
	require.ErrorIs(t, err, ErrUnavailable)
	require.False(t, errors.As(err, &ce))

	err = c.Call(ctx, contracts.SubjectKeysUpdate, contracts.UpdateKeyRequest{KeyID: "key_1"}, &contracts.Empty{})
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorAs(t, err, &ce)
	require.Equal(t, contracts.CodeUnavailable, ce.Code)
}

// TestRefund checks that Refund sends a RefundRequest on SubjectKeysRefund
// and decodes the RefundResponse.
func TestRefund(t *testing.T) {
	nc := startNATS(t)
	c := New(nc, time.Second)
	var gotBody string
	_, err := nc.Subscribe(contracts.SubjectKeysRefund, func(m *nats.Msg) {
		gotBody = string(m.Data)
		_ = m.Respond([]byte(`{"refunded":true,"credits":10}`))
	})
	require.NoError(t, err)
	got, err := c.Refund(context.Background(), contracts.RefundRequest{KeyID: "key_1", IdempotencyKey: "job_1", Reason: "job failed"})
	require.NoError(t, err)
	require.JSONEq(t, `{"keyId":"key_1","idempotencyKey":"job_1","reason":"job failed"}`, gotBody)
	ten := int64(10)
	require.Equal(t, contracts.RefundResponse{Refunded: true, Credits: &ten}, got)
}

// keyservice answers verifications on nc as told by verify (nil: no
// answer), and refunds by failing the first failRefunds with no answer;
// it returns the refunds received.
func stubKeyservice(t *testing.T, nc *nats.Conn, verify func(m *nats.Msg), failRefunds int) chan contracts.RefundRequest {
	t.Helper()
	refunds := make(chan contracts.RefundRequest, 16)
	_, err := nc.Subscribe(contracts.SubjectKeysVerify, func(m *nats.Msg) {
		if verify != nil {
			verify(m)
		}
	})
	require.NoError(t, err)
	n := 0
	_, err = nc.Subscribe(contracts.SubjectKeysRefund, func(m *nats.Msg) {
		if n++; n <= failRefunds {
			return
		}
		var r contracts.RefundRequest
		require.NoError(t, json.Unmarshal(m.Data, &r))
		refunds <- r
		_ = m.Respond([]byte(`{"refunded":true}`))
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return refunds
}

func errorReply(code contracts.Code) func(m *nats.Msg) {
	return func(m *nats.Msg) {
		out := nats.NewMsg(m.Reply)
		out.Header.Set(micro.ErrorHeader, "x")
		out.Header.Set(micro.ErrorCodeHeader, string(code))
		_ = m.RespondMsg(out)
	}
}

// TestVerifyUnansweredIsRefunded checks that a spending verification left
// without a decided answer (no answer in time, INTERNAL, TIMEOUT,
// UNAVAILABLE) is refunded by key and idempotency key, retried until
// keyservice answers, while one refused for its input, one answered, and
// one without an idempotency key are not.
func TestVerifyUnansweredIsRefunded(t *testing.T) {
	cases := []struct {
		name        string
		verify      func(m *nats.Msg)
		idem        string
		failRefunds int
		wantRefund  bool
	}{
		{"verify times out", nil, "job_1", 2, true},
		{"keyservice INTERNAL", errorReply(contracts.CodeInternal), "job_2", 0, true},
		{"keyservice TIMEOUT", errorReply(contracts.CodeTimeout), "job_3", 0, true},
		{"keyservice UNAVAILABLE", errorReply(contracts.CodeUnavailable), "job_6", 0, true},
		{"bad request", errorReply(contracts.CodeBadRequest), "job_4", 0, false},
		{"answered", func(m *nats.Msg) { _ = m.Respond([]byte(`{"valid":true,"code":"VALID"}`)) }, "job_5", 0, false},
		{"no idempotency key", nil, "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc := startNATS(t)
			refunds := stubKeyservice(t, nc, tc.verify, tc.failRefunds)
			c := New(nc, 100*time.Millisecond)
			c.minBackoff = 10 * time.Millisecond
			ctx := WithRequestID(context.Background(), "req_1")
			_, err := c.Verify(ctx, contracts.VerifyKeyRequest{Key: "ocr_secret", IdempotencyKey: tc.idem})
			if !tc.wantRefund {
				closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				c.Close(closeCtx)
				require.Empty(t, refunds)
				return
			}
			require.Error(t, err)
			select {
			case r := <-refunds:
				require.Equal(t, contracts.RefundRequest{Key: "ocr_secret", IdempotencyKey: tc.idem, Reason: "verification unanswered"}, r)
			case <-time.After(10 * time.Second):
				t.Fatal("no refund")
			}
			require.Eventually(t, func() bool { return c.Cancelling() == 0 }, 5*time.Second, 10*time.Millisecond)
			c.Close(context.Background())
			require.Empty(t, refunds, "refunded more than once")
		})
	}
}
