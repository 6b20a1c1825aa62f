package auth

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/api/idtoken"
)

// TokenVerifier checks a bearer token and returns the verified e-mail of
// the account it was issued to. Implementations must be safe for
// concurrent use.
type TokenVerifier interface {
	VerifyIDToken(ctx context.Context, token string) (email string, err error)
}

// TokenVerifierFunc adapts a function to TokenVerifier.
type TokenVerifierFunc func(ctx context.Context, token string) (string, error)

// VerifyIDToken calls f.
func (f TokenVerifierFunc) VerifyIDToken(ctx context.Context, token string) (string, error) {
	return f(ctx, token)
}

var _ TokenVerifier = TokenVerifierFunc(nil)

// GoogleIDTokens verifies Google ID tokens issued for audience (a service's
// URL) against Google's published keys, which it fetches once and caches.
func GoogleIDTokens(audience string) TokenVerifier {
	return &googleVerifier{audience: audience}
}

type googleVerifier struct {
	audience string
	once     sync.Once
	v        *idtoken.Validator
	err      error
}

func (g *googleVerifier) VerifyIDToken(ctx context.Context, token string) (string, error) {
	g.once.Do(func() { g.v, g.err = idtoken.NewValidator(context.WithoutCancel(ctx)) })
	if g.err != nil {
		return "", g.err
	}
	p, err := g.v.Validate(ctx, token, g.audience)
	if err != nil {
		return "", err
	}
	email, _ := p.Claims["email"].(string)
	if verified, _ := p.Claims["email_verified"].(bool); email == "" || !verified {
		return "", errors.New("token carries no verified e-mail")
	}
	return email, nil
}
