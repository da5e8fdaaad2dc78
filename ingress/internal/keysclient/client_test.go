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
// answer is ErrUnavailable.
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
