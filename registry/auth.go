package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/auth"
)

// ServiceOption configures a Service.
type ServiceOption interface {
	applyService(*serviceConfig)
}

type serviceOptionFunc func(*serviceConfig)

func (f serviceOptionFunc) applyService(c *serviceConfig) { f(c) }

type serviceConfig struct {
	keys        *auth.Keyring
	verifier    TokenVerifier
	localWrites bool
}

func (c *serviceConfig) validate() error {
	if c.localWrites && c.keys != nil && !c.keys.Empty() {
		return errors.New("registry: service: local writes without credentials are only for a registry without keys")
	}
	return nil
}

// WithKeyring sets the credentials that may write: API keys (metadata
// x-api-key) and service accounts (Google ID tokens, with WithIDTokens) whose
// entry has schema_write.
func WithKeyring(k *auth.Keyring) ServiceOption {
	return serviceOptionFunc(func(c *serviceConfig) { c.keys = k })
}

// TokenVerifier checks a bearer token and returns the verified e-mail of
// its holder.
type TokenVerifier = auth.TokenVerifier

// TokenVerifierFunc adapts a function to TokenVerifier.
type TokenVerifierFunc = auth.TokenVerifierFunc

// WithIDTokens accepts Google ID tokens ("authorization: Bearer ...")
// issued for audience (the registry's URL, e.g. its Cloud Run URL), checked
// with google.golang.org/api/idtoken. The token's verified e-mail must be a
// service account of the keyring with schema_write.
func WithIDTokens(audience string) ServiceOption {
	return WithTokenVerifier(auth.GoogleIDTokens(audience))
}

// WithTokenVerifier sets how bearer tokens are checked (WithIDTokens uses
// Google's ID token validation).
func WithTokenVerifier(v TokenVerifier) ServiceOption {
	return serviceOptionFunc(func(c *serviceConfig) { c.verifier = v })
}

// WithLocalWrites lets callers on the loopback interface register without a
// credential. It is meant for a registry that listens on loopback only and
// has no keys (local development); the caller should say so in its log.
func WithLocalWrites() ServiceOption {
	return serviceOptionFunc(func(c *serviceConfig) { c.localWrites = true })
}

// LocalPrincipal is who registered a version through a loopback registry
// without keys (WithLocalWrites).
const LocalPrincipal = "local"

// authorizeWrite returns the name of the principal that may register, or a
// gRPC error unless the caller may.
func (s *Service) authorizeWrite(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if key := first(md.Get(auth.APIKeyHeader)); key != "" {
		return s.allow(s.keyring().APIKey(key))
	}
	if h := first(md.Get("authorization")); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || s.cfg.verifier == nil {
			return "", status.Error(codes.Unauthenticated, "unsupported authorization; send an API key in x-api-key or a Google ID token")
		}
		email, err := s.cfg.verifier.VerifyIDToken(ctx, strings.TrimSpace(token))
		if err != nil {
			return "", status.Error(codes.Unauthenticated, fmt.Sprintf("ID token: %v", err))
		}
		p, err := s.keyring().ServiceAccount(email)
		if err != nil {
			return "", status.Error(codes.PermissionDenied, fmt.Sprintf("%s may not register schemas", email))
		}
		return s.allow(p, nil)
	}
	if s.cfg.localWrites && fromLoopback(ctx) {
		return LocalPrincipal, nil
	}
	return "", status.Error(codes.Unauthenticated, "registering schemas needs a credential: an API key with schema_write (x-api-key) or a Google ID token")
}

func (s *Service) allow(p *auth.Principal, err error) (string, error) {
	if err != nil {
		return "", status.Error(codes.Unauthenticated, "unknown API key")
	}
	if !p.SchemaWrite {
		return "", status.Error(codes.PermissionDenied, fmt.Sprintf("%s may not register schemas (no schema_write)", p.Name))
	}
	return p.Name, nil
}

func (s *Service) keyring() *auth.Keyring {
	if s.cfg.keys == nil {
		return auth.New()
	}
	return s.cfg.keys
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func fromLoopback(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return false
	}
	if p.Addr.Network() == "unix" || p.Addr.Network() == "bufconn" {
		return true
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
