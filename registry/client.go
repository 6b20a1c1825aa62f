package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/api/idtoken"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/oauth"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/cache"
	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
)

// Client talks to a registry service and caches what it learns: versions by
// id for ever once they are usable (they are immutable), versions by
// subject and number likewise, and the latest usable version of each
// subject for a TTL, refreshed early by Watch when that runs. Misses of
// concurrent callers share one call. A Client is safe for concurrent use.
type Client struct {
	api    registryv1.RegistryServiceClient
	conn   *grpc.ClientConn // owned, when Dial made it
	apiKey string
	ttl    time.Duration
	now    func() time.Time

	byID     cache.Map[int64, *contract.Schema]
	byNumber cache.Map[versionKey, *contract.Schema]
	latest   cache.Map[string, latestEntry]
	flights  singleflight.Group
	watched  atomic.Int64 // highest id Watch has seen
}

type versionKey struct {
	subject string
	version int
}

type latestEntry struct {
	s  *contract.Schema
	at time.Time
}

// ClientOption configures a Client.
type ClientOption interface {
	applyClient(*clientConfig)
}

type clientOptionFunc func(*clientConfig)

func (f clientOptionFunc) applyClient(c *clientConfig) { f(c) }

type clientConfig struct {
	apiKey string
	ttl    time.Duration
	dial   []grpc.DialOption
	now    func() time.Time
}

const defaultLatestTTL = 10 * time.Second

func newClientConfig(opts []ClientOption) *clientConfig {
	c := &clientConfig{ttl: defaultLatestTTL, now: time.Now}
	for _, o := range opts {
		o.applyClient(c)
	}
	if c.ttl <= 0 {
		c.ttl = defaultLatestTTL
	}
	return c
}

// WithAPIKey sends key (metadata x-api-key) with every call; the registry
// needs a key with schema_write for Register.
func WithAPIKey(key string) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.apiKey = key })
}

// WithLatestTTL sets how long Latest trusts a cached version (default 10s;
// a non-positive d keeps the default).
func WithLatestTTL(d time.Duration) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.ttl = d })
}

// WithDialOptions adds gRPC dial options (interceptors, for instance); only
// Dial uses them.
func WithDialOptions(opts ...grpc.DialOption) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.dial = append(c.dial, opts...) })
}

// withClientClock sets the clock of TTLs (tests).
func withClientClock(now func() time.Time) ClientOption {
	return clientOptionFunc(func(c *clientConfig) { c.now = now })
}

// Dial connects to the registry at target: "host:port" (or
// "http://host:port") is plaintext gRPC, for local and in-cluster use;
// "https://HOST[:port]" is TLS with a Google ID token for audience
// https://HOST on every call, from Application Default Credentials (Cloud
// Run IAM). With an API key and no usable credentials, the ID token is left
// out. Close releases the connection.
func Dial(ctx context.Context, target string, opts ...ClientOption) (*Client, error) {
	cfg := newClientConfig(opts)
	addr, dialOpts, err := dialTarget(ctx, target, cfg.apiKey != "")
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, append(dialOpts, cfg.dial...)...)
	if err != nil {
		return nil, fmt.Errorf("registry: dial %s: %w", target, err)
	}
	c := newClient(conn, cfg)
	c.conn = conn
	return c, nil
}

func dialTarget(ctx context.Context, target string, haveKey bool) (string, []grpc.DialOption, error) {
	if rest, ok := strings.CutPrefix(target, "http://"); ok {
		return strings.TrimSuffix(rest, "/"), []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	if !strings.HasPrefix(target, "https://") {
		if _, _, err := net.SplitHostPort(target); err != nil {
			return "", nil, fmt.Errorf("registry: target %q: want host:port or https://HOST[:port]", target)
		}
		return target, []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	u, err := url.Parse(target)
	if err != nil || u.Hostname() == "" {
		return "", nil, fmt.Errorf("registry: target %q: want https://HOST[:port]", target)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}))}
	ts, err := idtoken.NewTokenSource(ctx, "https://"+u.Hostname())
	switch {
	case err == nil:
		opts = append(opts, grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: ts}))
	case !haveKey:
		return "", nil, fmt.Errorf("registry: ID token for %s (Application Default Credentials): %w", target, err)
	}
	return net.JoinHostPort(u.Hostname(), port), opts, nil
}

// NewClient uses conn, which the caller keeps and closes.
func NewClient(conn grpc.ClientConnInterface, opts ...ClientOption) *Client {
	return newClient(conn, newClientConfig(opts))
}

func newClient(conn grpc.ClientConnInterface, cfg *clientConfig) *Client {
	return &Client{
		api:    registryv1.NewRegistryServiceClient(conn),
		apiKey: cfg.apiKey,
		ttl:    cfg.ttl,
		now:    cfg.now,
	}
}

// Close closes the connection if Dial made it.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

func (c *Client) outgoing(ctx context.Context) context.Context {
	if c.apiKey == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, auth.APIKeyHeader, c.apiKey)
}

// ByID returns the version with the given id. Usable versions are cached
// for ever; a pending one is fetched again on every call until it is
// usable.
func (c *Client) ByID(ctx context.Context, id int64) (*contract.Schema, error) {
	if s, ok := c.byID.Load(id); ok {
		return s, nil
	}
	return flight(ctx, &c.flights, "id/"+strconv.FormatInt(id, 10), func(ctx context.Context) (*contract.Schema, error) {
		if s, ok := c.byID.Load(id); ok { // filled while this call waited
			return s, nil
		}
		s, err := c.get(ctx, &registryv1.GetSchemaRequest{Id: id}, fmt.Sprintf("schema %d", id))
		if err != nil {
			return nil, err
		}
		c.remember(s)
		return s, nil
	})
}

// Version returns one version of subject; cached like ByID.
func (c *Client) Version(ctx context.Context, subject string, version int) (*contract.Schema, error) {
	key := versionKey{subject, version}
	if s, ok := c.byNumber.Load(key); ok {
		return s, nil
	}
	return flight(ctx, &c.flights, "v/"+subject+"@"+strconv.Itoa(version), func(ctx context.Context) (*contract.Schema, error) {
		if s, ok := c.byNumber.Load(key); ok {
			return s, nil
		}
		s, err := c.get(ctx, &registryv1.GetSchemaRequest{Subject: subject, Version: int32(version)}, fmt.Sprintf("%s v%d", subject, version))
		if err != nil {
			return nil, err
		}
		c.remember(s)
		return s, nil
	})
}

// Latest returns the newest usable version of subject, cached for the TTL.
// When the registry cannot be reached after the TTL, the cached version is
// returned (stale) rather than an error; an unknown subject is always
// ErrNotFound.
func (c *Client) Latest(ctx context.Context, subject string) (*contract.Schema, error) {
	cached, ok := c.latest.Load(subject)
	if ok && c.now().Sub(cached.at) < c.ttl {
		return cached.s, nil
	}
	return flight(ctx, &c.flights, "latest/"+subject, func(ctx context.Context) (*contract.Schema, error) {
		if e, ok := c.latest.Load(subject); ok && c.now().Sub(e.at) < c.ttl {
			return e.s, nil
		}
		s, err := c.get(ctx, &registryv1.GetSchemaRequest{Subject: subject}, subject)
		if err != nil {
			if ok && !errors.Is(err, ErrNotFound) {
				return cached.s, nil
			}
			return nil, err
		}
		c.remember(s)
		c.latest.Store(subject, latestEntry{s: s, at: c.now()})
		return s, nil
	})
}

func (c *Client) get(ctx context.Context, req *registryv1.GetSchemaRequest, what string) (*contract.Schema, error) {
	resp, err := c.api.GetSchema(c.outgoing(ctx), req)
	if err != nil {
		return nil, clientError(what, err)
	}
	s, err := contract.FromProto(resp.GetSchema())
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", what, err)
	}
	return s, nil
}

// remember caches a usable version by id and number.
func (c *Client) remember(s *contract.Schema) {
	if s.State != contract.Usable {
		return
	}
	c.byID.Store(s.ID, s)
	c.byNumber.Store(versionKey{s.Subject, s.Version}, s)
}

// Register registers schemas (see RegisterRequest). Rejections are results
// with violations, not errors.
func (c *Client) Register(ctx context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	resp, err := c.api.Register(c.outgoing(ctx), req)
	if err != nil {
		return nil, clientError("register", err)
	}
	return resp, nil
}

// Subjects lists every subject with its latest version.
func (c *Client) Subjects(ctx context.Context) ([]*registryv1.SubjectInfo, error) {
	resp, err := c.api.ListSubjects(c.outgoing(ctx), &registryv1.ListSubjectsRequest{})
	if err != nil {
		return nil, clientError("subjects", err)
	}
	return resp.GetSubjects(), nil
}

// Versions lists the versions of subject, oldest first, without descriptor
// sets.
func (c *Client) Versions(ctx context.Context, subject string) ([]*registryv1.Schema, error) {
	resp, err := c.api.ListVersions(c.outgoing(ctx), &registryv1.ListVersionsRequest{Subject: subject})
	if err != nil {
		return nil, clientError(subject, err)
	}
	return resp.GetVersions(), nil
}

// Watch follows the registry's stream of usable versions and puts each into
// the caches, so Latest sees a new version before its TTL ends. It
// reconnects after failures (with backoff) and blocks until ctx ends, then
// returns nil; it returns an error only when the registry refuses the
// stream for good (unimplemented, unauthenticated, permission denied).
func (c *Client) Watch(ctx context.Context) error {
	for failures := 0; ; {
		err := c.watchOnce(ctx, func() { failures = 0 })
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unimplemented, codes.Unauthenticated, codes.PermissionDenied:
			return clientError("watch", err)
		}
		failures++
		if err := sleep(ctx, min(time.Duration(1<<min(failures, 6))*50*time.Millisecond, 5*time.Second)); err != nil {
			return nil
		}
	}
}

func (c *Client) watchOnce(ctx context.Context, received func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.Watch(c.outgoing(ctx), &registryv1.WatchRequest{AfterId: c.watched.Load()})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		received()
		s, err := contract.FromProto(msg.GetSchema())
		if err != nil {
			continue // a version this client cannot read; Latest will say why
		}
		c.remember(s)
		if s.State == contract.Usable {
			c.latest.StoreUnless(s.Subject, latestEntry{s: s, at: c.now()}, func(old latestEntry) bool {
				return old.s.Version > s.Version
			})
		}
		for {
			seen := c.watched.Load()
			if s.ID <= seen || c.watched.CompareAndSwap(seen, s.ID) {
				break
			}
		}
	}
}

// clientError wraps a call's error; NotFound becomes ErrNotFound.
func clientError(what string, err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("registry: %s: %w (%s)", what, ErrNotFound, status.Convert(err).Message())
	case codes.Canceled:
		return fmt.Errorf("registry: %s: %w", what, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("registry: %s: %w", what, context.DeadlineExceeded)
	}
	return fmt.Errorf("registry: %s: %w", what, err)
}
