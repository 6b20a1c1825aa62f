package collector

import (
	"context"
	"fmt"
	"strings"

	"github.com/hemlabs/hem/auth"
)

// TokenVerifier checks a Google ID token and returns the e-mail of the
// account it was issued to.
type TokenVerifier = auth.TokenVerifier

// TokenVerifierFunc adapts a function to TokenVerifier.
type TokenVerifierFunc = auth.TokenVerifierFunc

// credentials are what a caller presented: an API key or a bearer token.
type credentials struct {
	apiKey string
	bearer string
}

func bearerToken(authorization string) string {
	const prefix = "bearer "
	if len(authorization) > len(prefix) && strings.EqualFold(authorization[:len(prefix)], prefix) {
		return strings.TrimSpace(authorization[len(prefix):])
	}
	return ""
}

// errUnauthenticated is an authentication failure; its text is safe to show
// to the caller.
type errUnauthenticated struct{ msg string }

func (e *errUnauthenticated) Error() string { return e.msg }

// authenticate resolves credentials to a principal. An API key wins over a
// bearer token when both are present.
func (c *Collector) authenticate(ctx context.Context, cr credentials) (*auth.Principal, error) {
	switch {
	case cr.apiKey != "":
		cache := c.keyCache()
		if p, ok := cache.m.Load(cr.apiKey); ok {
			return p.(*auth.Principal), nil
		}
		p, err := c.cfg.keyring.APIKey(cr.apiKey)
		if err != nil {
			return nil, &errUnauthenticated{"unknown API key"}
		}
		cache.m.Store(cr.apiKey, p)
		return p, nil
	case cr.bearer != "":
		if c.cfg.verifier == nil {
			return nil, &errUnauthenticated{"ID tokens are not accepted by this collector (no audience configured); send an API key in " + auth.APIKeyHeader}
		}
		email, err := c.cfg.verifier.VerifyIDToken(ctx, cr.bearer)
		if err != nil {
			return nil, &errUnauthenticated{fmt.Sprintf("invalid ID token: %v", err)}
		}
		p, err := c.cfg.keyring.ServiceAccount(email)
		if err != nil {
			return nil, &errUnauthenticated{fmt.Sprintf("service account %s is not a known producer", email)}
		}
		return p, nil
	default:
		return nil, &errUnauthenticated{"missing credentials: send an API key in " + auth.APIKeyHeader + " or a Google ID token in authorization: Bearer"}
	}
}

// keyCache is the cache of the keyring's current generation. The
// generation is read before the keyring is asked, so an answer of an older
// generation can only land in a cache that is already outdated.
func (c *Collector) keyCache() *keyCache {
	gen := c.cfg.keyring.Generation()
	for {
		cur := c.apiKeys.Load()
		if cur != nil && cur.gen >= gen {
			return cur
		}
		next := &keyCache{gen: gen}
		if c.apiKeys.CompareAndSwap(cur, next) {
			return next
		}
	}
}
