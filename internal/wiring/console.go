package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/source/ledger"
)

// ArchiveEventsPrefix is where the archive sink writes events in its
// bucket (failed events go under failed/); the console lists it.
const ArchiveEventsPrefix = "events/"

// Console authentication modes.
const (
	// ConsoleAuthKey lets in whoever presents the API key (X-Api-Key, a
	// bearer token, or the login page's session cookie): hem dev with its
	// dev key, or a console reached without IAP.
	ConsoleAuthKey = "key"
	// ConsoleAuthIAP trusts Identity-Aware Proxy's signed header.
	ConsoleAuthIAP = "iap"
)

// ConsoleConfig is the console's configuration: hem console serve sets it
// from flags, hem dev from its own endpoints. Everything the console reads
// is named here; what hem dev already holds open comes in ConsoleEnv.
type ConsoleConfig struct {
	// Auth is ConsoleAuthKey or ConsoleAuthIAP.
	Auth string
	// APIKey is the key people sign in with (Auth "key").
	APIKey string
	// IAPAudience is the audience of IAP's JWT (Auth "iap"):
	// /projects/NUMBER/global/backendServices/ID.
	IAPAudience string
	// PIIViewers may see PII values; Replayers may replay and redrive.
	// E-mail addresses (IAP only: a key holder may replay and sees no PII).
	PIIViewers, Replayers []string
	// Decrypters see encrypted fields in clear (with ConsoleEnv.FieldKeys).
	// E-mail addresses, IAP only; nobody by default.
	Decrypters []string
	// Secret signs CSRF tokens; instances behind one load balancer share
	// it. Empty: derived from APIKey, else random per process.
	Secret string

	// Collector is where replays go ("host:port", or https://HOST for
	// Cloud Run) and CollectorKey the API key the console sends with them.
	// Empty: no replays.
	Collector, CollectorKey string
	// BigQuery is the warehouse in production (when ConsoleEnv brings
	// none).
	BigQuery BigQueryWarehouseConfig
	// Monitoring is where the Live page reads metrics in production (when
	// ConsoleEnv brings none).
	Monitoring MonitoringConfig
	// Buckets (GCS): the audit trail's (objects under audit/), the file
	// sources' ledger and the Parquet archive. Empty: that page says it is
	// not configured.
	AuditBucket   string
	LedgerBucket  string
	ArchiveBucket string
}

// DefaultConsoleConfig is the production configuration: behind IAP.
func DefaultConsoleConfig() ConsoleConfig {
	return ConsoleConfig{Auth: ConsoleAuthIAP}
}

// Validate reports every setting that cannot work, at once.
func (c ConsoleConfig) Validate() error {
	var errs []error
	switch c.Auth {
	case ConsoleAuthKey:
		if c.APIKey == "" {
			errs = append(errs, errors.New("console: auth key needs an API key"))
		}
	case ConsoleAuthIAP:
		if c.IAPAudience == "" {
			errs = append(errs, errors.New("console: auth iap needs the IAP audience (/projects/NUMBER/global/backendServices/ID)"))
		}
	default:
		errs = append(errs, fmt.Errorf("console: auth %q: choose iap or key", c.Auth))
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		errs = append(errs, errors.New("console: the secret must have at least 16 bytes"))
	}
	if (c.BigQuery.Project == "") != (c.BigQuery.Dataset == "") {
		errs = append(errs, errors.New("console: the BigQuery warehouse needs both a project and a dataset"))
	}
	return errors.Join(errs...)
}

// ConsoleEnv is what the caller already holds open. hem dev gives its
// in-process registry client, DuckDB warehouse, local GCS client and
// Prometheus metrics; hem console serve gives its registry client and a
// GCS client, and the BigQuery warehouse and the collector are opened from
// the config.
type ConsoleEnv struct {
	// Registry is required (a *registry.Client).
	Registry console.Registry
	// Warehouse; nil opens BigQuery from ConsoleConfig.BigQuery.
	Warehouse console.Warehouse
	// GCS reads the ledger and archive buckets and writes the audit trail;
	// nil leaves those pages unconfigured.
	GCS *storage.Client
	// Metrics, optional: hem dev's Prometheus registry; nil reads Cloud
	// Monitoring from ConsoleConfig.Monitoring.
	Metrics console.Metrics
	// Resender, optional: hem dev's in-process collector (a CoreResender).
	// Nil dials ConsoleConfig.Collector.
	Resender console.Resender
	// FieldKeys, optional, decrypt encrypted fields for
	// ConsoleConfig.Decrypters (a *fieldcrypt.Keyring without WithCreate).
	FieldKeys console.FieldKeys
	// Logger, optional.
	Logger *slog.Logger
}

// Console is the console with the clients it opened.
type Console struct {
	srv     *console.Server
	closers []func() error
}

// Handler serves the console; mount it at /ui/.
func (c *Console) Handler() http.Handler { return c.srv.Handler() }

// Run samples the metrics for the Live page's last hour until ctx ends
// (nil then); it returns at once without metrics.
func (c *Console) Run(ctx context.Context) error { return c.srv.Run(ctx) }

// Close closes what NewConsole opened (not what ConsoleEnv brought).
func (c *Console) Close() error {
	var errs []error
	for _, f := range slices.Backward(c.closers) {
		errs = append(errs, f())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// NewConsole builds the console of cfg over env: the one wiring hem dev
// and hem console serve share.
func NewConsole(ctx context.Context, cfg ConsoleConfig, env ConsoleEnv) (_ *Console, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Registry == nil {
		return nil, errors.New("console: a registry is required")
	}
	c := &Console{}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	deps := console.Deps{Registry: env.Registry, Warehouse: env.Warehouse, Metrics: env.Metrics, Collector: env.Resender, FieldKeys: env.FieldKeys}

	switch cfg.Auth {
	case ConsoleAuthKey:
		deps.Auth = console.KeyAuth(cfg.APIKey)
	case ConsoleAuthIAP:
		a, err := console.IAPAuth(ctx, console.IAPConfig{Audience: cfg.IAPAudience, Replayers: cfg.Replayers, PIIReaders: cfg.PIIViewers, Decrypters: cfg.Decrypters})
		if err != nil {
			return nil, err
		}
		deps.Auth = a
	}

	if deps.Warehouse == nil && cfg.BigQuery.Project != "" {
		w, err := NewBigQueryWarehouse(ctx, cfg.BigQuery)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, w.Close)
		deps.Warehouse = w
	}
	if deps.Metrics == nil && cfg.Monitoring.Project != "" {
		m, client, err := openCloudMonitoring(ctx, cfg.Monitoring)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, client.Close)
		deps.Metrics = m
	}
	if deps.Collector == nil && cfg.Collector != "" {
		r, err := DialCollector(cfg.Collector, cfg.CollectorKey)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, r.Close)
		deps.Collector = r
	}
	if env.GCS != nil {
		if cfg.LedgerBucket != "" {
			deps.Ledger = ledger.New(env.GCS.Bucket(cfg.LedgerBucket), LedgerPrefix)
		}
		if cfg.AuditBucket != "" {
			deps.Audit = console.NewGCSAudit(env.GCS, cfg.AuditBucket)
		}
		if cfg.ArchiveBucket != "" {
			deps.Archive = console.NewArchive(env.GCS.Bucket(cfg.ArchiveBucket), ArchiveEventsPrefix)
		}
	}

	opts := []console.Option{console.WithLogger(env.Logger)}
	if cfg.Secret != "" {
		opts = append(opts, console.WithSecret([]byte(cfg.Secret)))
	}
	if c.srv, err = console.New(deps, opts...); err != nil {
		return nil, err
	}
	return c, nil
}
