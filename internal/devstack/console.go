package devstack

import (
	"context"
	"fmt"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/internal/wiring"
)

// startConsole builds the web console over the stack's own stores, with
// the wiring hem console serve uses; only the endpoints differ: the local
// warehouse instead of BigQuery, the collector's core in this process
// instead of its URL, the local GCS server, the stack's Prometheus
// registry. The dev key signs in.
func (s *Stack) startConsole(ctx context.Context, keys *auth.Keyring) (*wiring.Console, error) {
	p, err := keys.APIKey(s.APIKey)
	if err != nil {
		return nil, fmt.Errorf("dev: console: %w", err)
	}
	cfg := wiring.DefaultConsoleConfig()
	cfg.Auth, cfg.APIKey = wiring.ConsoleAuthKey, s.APIKey
	cfg.AuditBucket, cfg.ArchiveBucket = ConsoleBucket, ArchiveBucket
	if s.cfg.SourcesDir != "" {
		cfg.LedgerBucket = wiring.DevLedgerBucket
	}
	env := wiring.ConsoleEnv{
		Registry: s.regClient,
		GCS:      s.gcsClient,
		Metrics:  console.NewPromSource(s.metrics.gatherer),
		Resender: wiring.NewCoreResender(s.coll, p),
		Logger:   s.log.With("service", "console"),
	}
	if s.sinks.warehouse != nil {
		env.Warehouse = wiring.NewDuckDBWarehouse(s.sinks.warehouse)
	}
	c, err := wiring.NewConsole(ctx, cfg, env)
	if err != nil {
		return nil, fmt.Errorf("dev: console: %w", err)
	}
	return c, nil
}

// ConsoleURL is where the console answers: the HTTP address's /ui/.
func (s *Stack) ConsoleURL() string { return "http://" + s.HTTPAddr + "/ui/" }
