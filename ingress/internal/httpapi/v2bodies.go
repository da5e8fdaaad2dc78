package httpapi

// Request bodies of the /v2 routes, transcribed from Unkey's OpenAPI spec
// (svc/api/openapi/openapi-generated.yaml): the same members, types, limits
// and additionalProperties. Where the spec leaves additionalProperties open
// (createIdentity, rerollKey, a ratelimit), unknown members are ignored.
// Extensions of ours, all optional: a refill's "mode" and an identity's
// "credits".

import "github.com/ocrstack/ocrstack/contracts"

const (
	maxExpires  = 4102444800000 // 2100-01-01, Unkey's bound on timestamps and reroll expiration
	maxDuration = 2592000000    // 30 days, ratelimit.limit's window bound
)

func keyID() *schema { return str(3, 255) }

var (
	// refillSchema is Unkey's KeyCreditsRefill plus our "mode".
	refillSchema = closedObject([]string{"interval", "amount"}, map[string]*schema{
		"interval": enum("daily", "monthly"), "amount": integer(1, noMax), "refillDay": integer(1, 31),
		"mode": enum(string(contracts.RefillReplace), string(contracts.RefillAdd)),
	})
	// creditsSchema is Unkey's KeyCreditsData: remaining null is unlimited.
	creditsSchema = closedObject([]string{"remaining"}, map[string]*schema{
		"remaining": orNull(integer(0, noMax)), "refill": refillSchema,
	})
	// ratelimitSchema is Unkey's RatelimitRequest. The spec lists autoApply
	// as required but gives it a default and omits it in its own examples,
	// so it is optional here.
	ratelimitSchema = openObject([]string{"name", "limit", "duration"}, map[string]*schema{
		"name": str(3, 128), "limit": integer(1, noMax), "duration": integer(1000, noMax), "autoApply": boolean(),
	})
	limitSchema = closedObject([]string{"namespace", "identifier", "limit", "duration"}, map[string]*schema{
		"namespace": str(1, 255), "identifier": str(1, 255), "limit": integer(1, noMax),
		"duration": integer(1000, maxDuration), "cost": integer(0, noMax),
	})
)

var (
	createKeySchema = closedObject([]string{"apiId"}, map[string]*schema{
		"apiId": str(3, 255), "prefix": str(1, 16), "name": str(1, 255), "byteLength": integer(16, 255),
		"externalId": str(1, 255), "meta": meta(), "roles": array(str(1, 100), 0, 100),
		"permissions": array(str(1, 100), 0, 1000), "expires": integer(0, maxExpires),
		"credits": creditsSchema, "ratelimits": array(ratelimitSchema, 0, 50),
		"enabled": boolean(), "recoverable": boolean(),
	})
	verifyKeySchema = closedObject([]string{"key"}, map[string]*schema{
		"key": str(1, 512), "tags": array(str(1, 512), 0, 20), "permissions": str(1, 1000),
		"credits": closedObject([]string{"cost"}, map[string]*schema{"cost": integer(0, 1_000_000_000_000)}),
		"ratelimits": array(openObject([]string{"name"}, map[string]*schema{
			"name": str(3, 255), "cost": integer(0, noMax), "limit": integer(0, noMax), "duration": integer(0, noMax),
		}), 0, 0),
		"migrationId": str(0, 256),
	})
	getKeySchema = closedObject([]string{"keyId"}, map[string]*schema{"keyId": keyID(), "decrypt": boolean()})
	whoamiSchema = closedObject([]string{"key"}, map[string]*schema{"key": str(1, 512)})
	// updateKeySchema: null clears name, externalId, meta, expires and
	// credits (nullable in the spec) and ratelimits (its description says so).
	updateKeySchema = closedObject([]string{"keyId"}, map[string]*schema{
		"keyId": keyID(), "name": orNull(str(1, 255)), "externalId": orNull(str(1, 255)),
		"meta": orNull(meta()), "expires": orNull(integer(0, maxExpires)),
		"credits": orNull(closedObject(nil, map[string]*schema{
			"remaining": orNull(integer(0, noMax)), "refill": orNull(refillSchema),
		})),
		"ratelimits": orNull(array(ratelimitSchema, 0, 50)), "enabled": boolean(),
		"roles": array(str(1, 100), 0, 100), "permissions": array(str(3, 100), 0, 1000),
	})
	updateCreditsSchema = closedObject([]string{"keyId", "operation"}, map[string]*schema{
		"keyId": str(3, 0), "operation": enum(string(contracts.CreditsSet), string(contracts.CreditsIncrement), string(contracts.CreditsDecrement)),
		"value": orNull(integer(0, noMax)),
	})
	deleteKeySchema = closedObject([]string{"keyId"}, map[string]*schema{"keyId": keyID(), "permanent": boolean()})
	rerollKeySchema = openObject([]string{"keyId", "expiration"}, map[string]*schema{
		"keyId": keyID(), "expiration": integer(0, maxExpires),
	})
	listKeysSchema = closedObject([]string{"apiId"}, map[string]*schema{
		"apiId": str(1, 0), "limit": integer(1, 100), "cursor": str(0, 0), "externalId": str(1, 0),
		"decrypt": boolean(), "revalidateKeysCache": boolean(),
	})
)

var (
	createIdentitySchema = openObject([]string{"externalId"}, map[string]*schema{
		"externalId": str(1, 255), "meta": meta(), "ratelimits": array(ratelimitSchema, 0, 50),
		"credits": creditsSchema,
	})
	identityRefSchema    = closedObject([]string{"identity"}, map[string]*schema{"identity": str(1, 0)})
	updateIdentitySchema = closedObject([]string{"identity"}, map[string]*schema{
		"identity": str(1, 0), "meta": meta(), "ratelimits": array(ratelimitSchema, 0, 50),
		"credits": orNull(creditsSchema),
	})
	listIdentitiesSchema = closedObject(nil, map[string]*schema{"limit": integer(1, 100), "cursor": str(0, 0), "search": str(0, 0)})
	multiLimitSchema     = array(limitSchema, 1, 100)
)
