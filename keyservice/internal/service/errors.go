package service

import (
	"errors"
	"fmt"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/keyservice/internal/store"
)

func badRequest(err error) error {
	return &contracts.Error{Code: contracts.CodeBadRequest, Message: err.Error()}
}

// storeError turns what the store reports about the thing named by field
// into the caller's error; other errors stay internal.
func storeError(err error, field string) error {
	switch {
	case errors.Is(err, store.ErrRerolled):
		return &contracts.Error{Code: contracts.CodeNotFound, Message: field + ": the key was rerolled; manage the new key (only delete accepts the old id)"}
	case errors.Is(err, store.ErrNotFound):
		return &contracts.Error{Code: contracts.CodeNotFound, Message: field + ": not found"}
	case errors.Is(err, store.ErrTaken):
		return &contracts.Error{Code: contracts.CodeConflict, Message: field + ": an identity with this externalId exists; update it, or pick another externalId"}
	case errors.Is(err, store.ErrTooManyAliases):
		return &contracts.Error{Code: contracts.CodeConflict, Message: fmt.Sprintf("%s: %d old keys are still in their grace period; delete one or reroll with expiration 0", field, store.MaxAliases)}
	case errors.Is(err, store.ErrUnlimited):
		return &contracts.Error{Code: contracts.CodeBadRequest, Message: "operation: the key's credits are unlimited; use set with a value first"}
	}
	return err
}
