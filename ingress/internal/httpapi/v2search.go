package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/ocrstack/ocrstack/contracts"
)

// Identity search for identities.listIdentities. Unkey's "search" keeps the
// identities whose id or external id contains the text, ignoring case;
// keyservice lists identities in id order without a filter. The ingress
// filters keyservice's pages itself rather than growing the wire contract
// for one query, and a page's cursor is the id of the last identity it
// looked at, which is what keyservice's cursor is, so paging on goes on
// from there. To bound the work of one request, a search reads at most
// maxSearchScan identities; a page cut short by that bound says hasMore,
// and may hold fewer matches than asked for, even none.

// maxSearchScan bounds the identities one search request reads.
const maxSearchScan = 1000

// searchPageSize is how many identities each keyservice call returns during
// a search: its largest page.
const searchPageSize = 100

// defaultListLimit is Unkey's page size when a list names no limit.
const defaultListLimit = 100

// v2ListIdentitiesBody is Unkey's V2IdentitiesListIdentitiesRequestBody.
type v2ListIdentitiesBody struct {
	Limit  int    `json:"limit"`
	Cursor string `json:"cursor"`
	Search string `json:"search"`
}

// identityPage is one page of a list: the identities, the cursor of the
// next page and whether there may be one.
type identityPage struct {
	identities []contracts.Identity
	cursor     string
	hasMore    bool
}

// searchIdentities reads keyservice's pages from cursor on and keeps the
// identities matching search, until limit match, the list ends, or
// maxSearchScan were read.
func (a *api) searchIdentities(c *fiber.Ctx, cursor string, limit int, search string) (identityPage, error) {
	needle := strings.ToLower(search)
	page := identityPage{cursor: cursor}
	for scanned := 0; scanned < maxSearchScan; {
		var resp contracts.ListIdentitiesResponse
		if err := a.call(c, contracts.SubjectIdentitiesList, contracts.ListIdentitiesRequest{
			Cursor: page.cursor, Limit: searchPageSize,
		}, &resp); err != nil {
			return identityPage{}, err
		}
		for i, id := range resp.Identities {
			scanned++
			page.cursor = id.ID
			if !strings.Contains(strings.ToLower(id.ID), needle) && !strings.Contains(strings.ToLower(id.ExternalID), needle) {
				continue
			}
			page.identities = append(page.identities, id)
			if len(page.identities) == limit {
				// More may match, unless this was the list's last identity.
				page.hasMore = resp.HasMore || i < len(resp.Identities)-1
				if !page.hasMore {
					page.cursor = ""
				}
				return page, nil
			}
		}
		if !resp.HasMore || len(resp.Identities) == 0 {
			return identityPage{identities: page.identities}, nil
		}
	}
	page.hasMore = true
	return page, nil
}
