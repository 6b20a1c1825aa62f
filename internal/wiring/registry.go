package wiring

import (
	"context"
	"os/exec"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/registry"
)

// RegistryConfig is the registry's configuration.
type RegistryConfig struct {
	// Prefix is where versions live in the bucket.
	Prefix string
	// RefreshInterval bounds how stale the view of other replicas' writes
	// may get.
	RefreshInterval time.Duration
	// Audience accepts Google ID tokens issued for it; empty accepts none.
	Audience string
	// LocalWrites admits schema writes from loopback callers without a
	// credential (a registry with no keys on a developer's machine).
	LocalWrites bool
}

// DefaultRegistryConfig is the production configuration.
func DefaultRegistryConfig() RegistryConfig {
	return RegistryConfig{RefreshInterval: time.Second}
}

// NewRegistry builds the registry of c on bucket, migrating every warehouse
// of migrators before a version is usable, and its gRPC service; keys are
// who may read and write.
func NewRegistry(ctx context.Context, c RegistryConfig, bucket *storage.BucketHandle, keys *auth.Keyring,
	migrators ...registry.Migrator) (*registry.Registry, *registry.Service, error) {
	opts := []registry.Option{registry.WithRefreshInterval(c.RefreshInterval)}
	for _, m := range migrators {
		opts = append(opts, registry.WithMigrator(m))
	}
	reg, err := registry.New(ctx, bucket, c.Prefix, opts...)
	if err != nil {
		return nil, nil, err
	}
	svcOpts := []registry.ServiceOption{registry.WithKeyring(keys)}
	if c.Audience != "" {
		svcOpts = append(svcOpts, registry.WithIDTokens(c.Audience))
	}
	if c.LocalWrites {
		svcOpts = append(svcOpts, registry.WithLocalWrites())
	}
	svc, err := registry.NewService(reg, svcOpts...)
	if err != nil {
		return nil, nil, err
	}
	return reg, svc, nil
}

// HeadCommit is the commit checked out where dir is (git rev-parse HEAD),
// which a push records with each new version; "" when dir is not in a git
// checkout, git is missing or there is no commit yet.
func HeadCommit(ctx context.Context, dir string) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "--verify", "--quiet", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
