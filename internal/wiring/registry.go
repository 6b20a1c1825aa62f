package wiring

import (
	"context"
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
