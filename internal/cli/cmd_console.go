package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry"
)

// DefaultConsoleAddr is where hem console serve listens unless told.
const DefaultConsoleAddr = "127.0.0.1:7073"

// consoleServeConfig is the configuration of "hem console serve".
type consoleServeConfig struct {
	// Console is the console's own configuration; wiring has its defaults
	// and hem dev builds the same one with its local endpoints.
	Console         wiring.ConsoleConfig
	Listen          string
	Registry        string
	RegistryAPIKey  string
	PIIViewers      string
	Replayers       string
	Decrypters      string
	ShutdownTimeout time.Duration
}

func (c *consoleServeConfig) bind(fs *flag.FlagSet) {
	c.Console = wiring.DefaultConsoleConfig()
	cc := &c.Console
	fs.StringVar(&c.Listen, "listen", DefaultConsoleAddr, "HTTP address of the console (pages under /ui/, /healthz); :8080 on Cloud Run")
	fs.StringVar(&c.Registry, "registry", DefaultRegistryAddr, "registry address: host:port, or https://HOST (TLS with a Google ID token, as on Cloud Run)")
	fs.StringVar(&c.RegistryAPIKey, "registry-api-key", "", "API key for the registry, when it wants one (the console only reads, and dry-runs \"try a change\")")
	fs.StringVar(&cc.Collector, "collector", "", "collector address replays go through: host:port, or https://HOST (TLS); empty: replays are off")
	fs.StringVar(&cc.CollectorKey, "collector-api-key", "", "API key the console sends to the collector with replays (keep it in Secret Manager); the key's principal must be allowed the replayed types")
	fs.StringVar(&cc.BigQuery.Project, "bigquery-project", "", "project of the warehouse dataset; it runs (and pays for) the console's queries")
	fs.StringVar(&cc.BigQuery.Dataset, "bigquery-dataset", "", "BigQuery dataset of the event tables (and _failed_events); unqualified table names in the SQL page resolve in it")
	fs.StringVar(&cc.BigQuery.FailedDataset, "bigquery-failed-dataset", "", "BigQuery dataset of _failed_events when it is not --bigquery-dataset (terraform: PREFIX_failed)")
	fs.Int64Var(&cc.BigQuery.MaxBytesBilled, "bigquery-max-bytes", 0, "BigQuery refuses a console query that would scan more bytes than this (maximumBytesBilled); 0: no cap (the SQL page still shows the estimate first)")
	fs.StringVar(&cc.Monitoring.Project, "monitoring-project", "", "Cloud Monitoring project the Live page reads (Pub/Sub backlog and dead letters, the collector's counts and p99 through Managed Prometheus); default: --bigquery-project; neither: the page says it is not configured")
	fs.StringVar(&cc.AuditBucket, "audit-bucket", "", "GCS bucket of the audit trail of replays and redrives (objects under audit/); empty: replays are not recorded")
	fs.StringVar(&cc.LedgerBucket, "ledger-bucket", "", "GCS bucket of the file sources' ledger (the Sources page); empty: the page says it is not configured")
	fs.StringVar(&cc.ArchiveBucket, "archive-bucket", "", "GCS bucket of the Parquet archive (the Archive page and Find); empty: the pages say it is not configured")
	fs.StringVar(&cc.Auth, "auth", cc.Auth, "who may sign in: iap (Identity-Aware Proxy in front, its signed header checked) or key (whoever has --api-key)")
	fs.StringVar(&cc.IAPAudience, "iap-audience", "", "with --auth iap: the audience of IAP's signed header, /projects/NUMBER/global/backendServices/ID (required)")
	fs.StringVar(&cc.APIKey, "api-key", "", "with --auth key: the key people sign in with (X-Api-Key, a bearer token, or the login page)")
	fs.StringVar(&c.PIIViewers, "pii-viewers", "", "comma-separated e-mails (with --auth iap) who see the values of PII fields; everyone else sees them masked")
	fs.StringVar(&c.Decrypters, "decrypters", "", "comma-separated e-mails (with --auth iap) who see encrypted fields in clear, when the console has the field keys; nobody by default: everyone else sees \"encrypted\", never the ciphertext")
	fs.StringVar(&c.Replayers, "replayers", "", "comma-separated e-mails (with --auth iap) who may replay failed events and redrive dead letters")
	fs.StringVar(&cc.Secret, "secret", "", "key (at least 16 bytes) that signs the console's CSRF tokens, shared by all instances; default: derived from --api-key, else random per instance")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long shutdown waits for requests in flight")
}

// resolve fills the console's config from the flags that need parsing and
// checks it.
func (c *consoleServeConfig) resolve() error {
	c.Console.PIIViewers = splitList(c.PIIViewers)
	c.Console.Replayers = splitList(c.Replayers)
	c.Console.Decrypters = splitList(c.Decrypters)
	if c.Console.Monitoring.Project == "" {
		c.Console.Monitoring.Project = c.Console.BigQuery.Project
	}
	var errs []error
	if c.Registry == "" {
		errs = append(errs, errors.New("--registry is required"))
	}
	if err := c.Console.Validate(); err != nil {
		errs = append(errs, consoleFlagError(err))
	}
	return errors.Join(errs...)
}

// consoleFlagError names the flags behind wiring's messages.
func consoleFlagError(err error) error {
	return errors.New(strings.NewReplacer(
		"auth key needs an API key", "--auth key needs --api-key",
		"auth iap needs the IAP audience", "--auth iap needs --iap-audience",
		"the secret must", "--secret must",
		"the BigQuery warehouse needs both a project and a dataset", "set both --bigquery-project and --bigquery-dataset",
	).Replace(err.Error()))
}

func consoleServeCommand() *Command {
	var cfg consoleServeConfig
	return &Command{
		Name:    "console serve",
		Summary: "run the web console (contracts, live rates, failed events and replay, SQL)",
		Help: `Serves the web console under /ui/ (and /healthz): contracts and their history,
live rates, failed events with replay through the collector, SQL over BigQuery
(the bytes a query would scan are shown before it runs), the file sources'
ledger and the archive. It reads the registry, the warehouse and the buckets it
is given, and writes only through the collector (replays) and to the audit
bucket. hem dev serves the same console at http://127.0.0.1:7072/ui/.

In production it runs on Cloud Run behind Identity-Aware Proxy (--auth iap
--iap-audience ...; terraform/console.tf), or with an API key (--auth key).
Viewers see PII fields masked unless listed in --pii-viewers.`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			if err := cfg.resolve(); err != nil {
				return err
			}
			return serveConsole(ctx, io, &cfg)
		},
	}
}

func serveConsole(ctx context.Context, io IO, cfg *consoleServeConfig) error {
	log := slog.New(slog.NewJSONHandler(io.Stderr, nil))
	var regOpts []registry.ClientOption
	if cfg.RegistryAPIKey != "" {
		regOpts = append(regOpts, registry.WithAPIKey(cfg.RegistryAPIKey))
	}
	reg, err := registry.Dial(ctx, cfg.Registry, regOpts...)
	if err != nil {
		return err
	}
	defer reg.Close()
	env := wiring.ConsoleEnv{Registry: reg, Logger: log}
	if cc := cfg.Console; cc.AuditBucket != "" || cc.LedgerBucket != "" || cc.ArchiveBucket != "" {
		gcs, err := storage.NewClient(ctx)
		if err != nil {
			return fmt.Errorf("console: gcs: %w", err)
		}
		defer gcs.Close()
		env.GCS = gcs
	}
	con, err := wiring.NewConsole(ctx, cfg.Console, env)
	if err != nil {
		return err
	}
	defer con.Close()

	mux := http.NewServeMux()
	mux.Handle("/ui/", con.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusFound)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("console: listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	log.Info("console serving", "addr", ln.Addr().String(), "auth", cfg.Console.Auth, "registry", cfg.Registry,
		"collector", cfg.Console.Collector, "bigquery", cfg.Console.BigQuery.Project+"."+cfg.Console.BigQuery.Dataset,
		"monitoring", cfg.Console.Monitoring.Project)
	// The Live page's history: sampled while the console runs.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() { _ = con.Run(runCtx) }()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("console: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("console: shutdown: %w", err)
	}
	log.Info("console stopped")
	return nil
}
