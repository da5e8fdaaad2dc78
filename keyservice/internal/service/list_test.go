package service

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
)

// TestListKeysPaging creates 250 keys in one key space (50 of one owner)
// and 10 in another, and checks that paging returns every key of the space
// exactly once, in a stable (key id) order, with a cursor and hasMore until
// the last page, filtered by owner when asked, and never a hash or a key.
func TestListKeysPaging(t *testing.T) {
	f := start(t, 2)
	var mu sync.Mutex
	all, owned := map[string]bool{}, map[string]bool{}
	var wg sync.WaitGroup
	// Concurrent creates, at most 16 at a time: each waits at most 5 s for
	// its answer, which 260 at once miss on a loaded 2-core machine (every
	// create is a few writes on one server).
	slots := make(chan struct{}, 16)
	for i := range 260 {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			req := contracts.CreateKeyRequest{APIID: "api_list", Name: fmt.Sprint(i)}
			if i >= 250 {
				req.APIID = "api_other"
			} else if i%5 == 0 {
				req.ExternalID = "owner1"
			}
			created := f.create(t, req)
			mu.Lock()
			defer mu.Unlock()
			if req.APIID == "api_list" {
				all[created.KeyID] = true
				if req.ExternalID != "" {
					owned[created.KeyID] = true
				}
			}
		})
	}
	wg.Wait()
	cases := []struct {
		name       string
		externalID string
		limit      int
		want       map[string]bool
		wantPages  []int
	}{
		{"default page size 100", "", 0, all, []int{100, 100, 50}},
		{"pages of 100", "", 100, all, []int{100, 100, 50}},
		{"pages of 60", "", 60, all, []int{60, 60, 60, 60, 10}},
		{"one owner, pages of 30", "owner1", 30, owned, []int{30, 20}},
		{"an owner with no keys", "nobody", 10, map[string]bool{}, []int{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ids []string
			var pages []int
			cursor := ""
			for {
				var raw json.RawMessage
				code, desc := f.call(t, contracts.SubjectKeysList, contracts.ListKeysRequest{APIID: "api_list", ExternalID: tc.externalID, Cursor: cursor, Limit: tc.limit}, &raw)
				require.Empty(t, code, desc)
				require.NotContains(t, string(raw), "hash")
				var page contracts.ListKeysResponse
				require.NoError(t, json.Unmarshal(raw, &page))
				pages = append(pages, len(page.Keys))
				for _, k := range page.Keys {
					ids = append(ids, k.KeyID)
					require.Equal(t, "api_list", k.APIID)
					if tc.externalID != "" {
						require.Equal(t, tc.externalID, k.ExternalID)
					}
				}
				if !page.HasMore {
					require.Empty(t, page.Cursor)
					break
				}
				require.Equal(t, page.Keys[len(page.Keys)-1].KeyID, page.Cursor)
				cursor = page.Cursor
			}
			require.Equal(t, tc.wantPages, pages)
			require.True(t, slices.IsSorted(ids), "stable order")
			got := map[string]bool{}
			for _, id := range ids {
				require.False(t, got[id], "key %s listed twice", id)
				got[id] = true
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestListRejectsBadInput checks that a malformed list request is
// BAD_REQUEST naming the field.
func TestListRejectsBadInput(t *testing.T) {
	f := start(t, 1)
	cases := []struct {
		subject, body, want string
	}{
		{contracts.SubjectKeysList, `{}`, "apiId: required"},
		{contracts.SubjectKeysList, `{"apiId":"a","limit":101}`, "limit: must be between 1 and 100"},
		{contracts.SubjectKeysList, `{"apiId":"a","limit":-1}`, "limit"},
		{contracts.SubjectKeysList, `{"apiId":"a","cursor":"key.>"}`, "cursor: must be the cursor of the previous page"},
		{contracts.SubjectKeysList, `{"apiId":"a","page":2}`, "unknown field \"page\""},
		{contracts.SubjectIdentitiesList, `{"limit":500}`, "limit"},
		{contracts.SubjectIdentitiesList, `{"cursor":"*"}`, "cursor"},
	}
	for _, tc := range cases {
		code, desc := f.callRaw(t, tc.subject, []byte(tc.body), nil)
		require.Equal(t, string(contracts.CodeBadRequest), code, tc.body)
		require.Contains(t, desc, tc.want, tc.body)
	}
}

// TestListKeysFitsOnePayload checks that a page of keys with large meta is
// cut short to stay under NATS's max_payload, with a cursor to the rest.
func TestListKeysFitsOnePayload(t *testing.T) {
	f := start(t, 1)
	meta := json.RawMessage(`{"blob":"` + strings.Repeat("m", 15<<10) + `"}`)
	for range 60 {
		f.create(t, contracts.CreateKeyRequest{APIID: "api_big", Meta: meta})
	}
	total, pages, cursor := 0, 0, ""
	for {
		page := must[contracts.ListKeysResponse](t, f, contracts.SubjectKeysList, contracts.ListKeysRequest{APIID: "api_big", Cursor: cursor})
		total += len(page.Keys)
		pages++
		if !page.HasMore {
			break
		}
		cursor = page.Cursor
	}
	require.Equal(t, 60, total)
	require.Equal(t, 2, pages)
}
