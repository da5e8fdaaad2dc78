package service

import (
	"bytes"
	"encoding/json"
)

// patchField decodes one optional field of an update request, which has
// Unkey's three meanings: absent keeps the value (present false), null
// clears it (null true), anything else replaces it with v. A value of the
// wrong type is reported as a problem of the field.
func patchField[T any](p *problems, field string, raw json.RawMessage) (v T, present, null bool) {
	if len(raw) == 0 {
		return v, false, false
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return v, true, true
	}
	if err := decodeStrict(raw, &v); err != nil {
		p.add("%s: %v", field, err)
		return v, false, false
	}
	return v, true, false
}
