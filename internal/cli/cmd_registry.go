package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/sink/bigquery"
)

// registryServeConfig is the configuration of "hem registry serve".
type registryServeConfig struct {
	Listen          string
	Store           string
	KeysFile        string
	KeysReload      time.Duration
	Audience        string
	Project         string
	BigQueryProject string
	BigQueryDataset string
	// BigQueryEndpoint and BigQueryWriteEndpoint point the migrator at a
	// BigQuery-API-compatible server.
	BigQueryEndpoint      string
	BigQueryWriteEndpoint string
	FieldKeys             fieldKeysFlags
}

func (c *registryServeConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", DefaultRegistryAddr, "gRPC listen address (Cloud Run: :8080)")
	fs.StringVar(&c.Store, "store", "", "where versions are stored: gs://BUCKET/PREFIX, or a folder served by an in-process GCS server (required)")
	fs.StringVar(&c.KeysFile, "keys-file", "", "keys file: API keys and service accounts; entries with schema_write may register")
	fs.DurationVar(&c.KeysReload, "keys-reload", auth.DefaultReloadInterval, "how often the keys file is reread; a removed key is refused after at most this long")
	fs.StringVar(&c.Audience, "audience", "", "accept Google ID tokens issued for this audience (the registry's URL, e.g. https://hem-registry-xyz.a.run.app)")
	fs.StringVar(&c.Project, "project", "", "Google Cloud project (default of --bigquery-project)")
	fs.StringVar(&c.BigQueryProject, "bigquery-project", "", "create and widen BigQuery tables in this project when a version is admitted")
	fs.StringVar(&c.BigQueryDataset, "bigquery-dataset", "", "BigQuery dataset of the event tables")
	fs.StringVar(&c.BigQueryEndpoint, "bigquery-endpoint", "", "BigQuery REST endpoint of a BigQuery-API-compatible server (http:// means no credentials)")
	fs.StringVar(&c.BigQueryWriteEndpoint, "bigquery-write-endpoint", "", "Storage Write API endpoint of a BigQuery-API-compatible server")
	c.FieldKeys.bind(fs)
}

func (c *registryServeConfig) validate() error {
	if c.Store == "" {
		return errors.New("--store is required: gs://BUCKET/PREFIX or a folder")
	}
	if c.BigQueryDataset != "" && c.BigQueryProject == "" {
		c.BigQueryProject = c.Project
	}
	if c.BigQueryDataset != "" && c.BigQueryProject == "" {
		return errors.New("--bigquery-dataset needs --bigquery-project (or --project)")
	}
	if c.BigQueryProject != "" && c.BigQueryDataset == "" {
		return errors.New("--bigquery-project needs --bigquery-dataset")
	}
	return c.FieldKeys.validate()
}

func registryServeCommand() *Command {
	var cfg registryServeConfig
	return &Command{
		Name:    "registry serve",
		Summary: "run the schema registry gRPC service",
		Help: `
Serves hem.registry.v1.RegistryService and grpc.health.v1 on --listen.

Versions live in GCS objects (--store gs://BUCKET/PREFIX; the client honours
STORAGE_EMULATOR_HOST), or in a folder (--store DIR) served by an in-process
GCS server, so a restart keeps every schema.

Reads are open. Writes need an API key with schema_write from --keys-file
(metadata x-api-key), or a Google ID token for --audience whose service
account has schema_write. A registry listening on loopback only, with no keys,
accepts writes from local callers and says so in its log.

With --bigquery-project and --bigquery-dataset, every admitted version
migrates its BigQuery table before it becomes usable.`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			return runRegistryServe(ctx, io, &cfg)
		},
	}
}

func runRegistryServe(ctx context.Context, io IO, cfg *registryServeConfig) error {
	log := slog.New(slog.NewJSONHandler(io.Stderr, nil))
	bucket, prefix, closeStore, err := registryOpenStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer closeStore()

	keys := auth.New()
	if cfg.KeysFile != "" {
		if keys, err = auth.Load(cfg.KeysFile); err != nil {
			return err
		}
	}
	var migrators []registry.Migrator
	if cfg.BigQueryDataset != "" {
		// Every admitted version creates or widens its table before it
		// is usable, so no processor waits on a column.
		bq, err := wiring.OpenBigQuery(ctx, bigquery.Config{Project: cfg.BigQueryProject, Dataset: cfg.BigQueryDataset, Endpoint: cfg.BigQueryEndpoint, WriteEndpoint: cfg.BigQueryWriteEndpoint,
			FieldKeys: cfg.FieldKeys.config()})
		if err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		defer bq.Close(context.WithoutCancel(ctx))
		migrators = append(migrators, bq)
	}

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("registry: listen: %w", err)
	}
	rc := wiring.DefaultRegistryConfig()
	rc.Prefix, rc.Audience = prefix, cfg.Audience
	switch {
	case !keys.Empty():
	case registryLoopbackOnly(lis.Addr()):
		rc.LocalWrites = true
		log.Warn("no keys configured: accepting schema writes from local callers without a credential", "listen", lis.Addr().String())
	default:
		log.Warn("no keys configured and not on loopback: every schema write will be refused; set --keys-file", "listen", lis.Addr().String())
	}
	_, svc, err := wiring.NewRegistry(ctx, rc, bucket, keys, migrators...)
	if err != nil {
		lis.Close()
		return err
	}
	log.Info("registry serving", "addr", lis.Addr().String(), "store", cfg.Store)
	if cfg.KeysFile != "" {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = auth.Watch(wctx, cfg.KeysFile, keys, cfg.KeysReload, log) }()
	}
	if err := registry.Serve(ctx, lis, svc); err != nil {
		return fmt.Errorf("registry: serve: %w", err)
	}
	log.Info("registry stopped")
	return nil
}

// registryLocalBucket is the bucket of a folder store.
const registryLocalBucket = "hem-registry"

// registryOpenStore resolves --store: gs://BUCKET/PREFIX through the GCS
// client (Application Default Credentials, or STORAGE_EMULATOR_HOST), or a
// folder served by an in-process GCS server on a free loopback port.
func registryOpenStore(ctx context.Context, store string) (*storage.BucketHandle, string, func(), error) {
	if rest, ok := strings.CutPrefix(store, "gs://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, "", nil, fmt.Errorf("--store %q: no bucket", store)
		}
		client, err := storage.NewClient(ctx)
		if err != nil {
			return nil, "", nil, fmt.Errorf("registry: storage client: %w", err)
		}
		return client.Bucket(bucket), prefix, func() { client.Close() }, nil
	}
	srv, err := localgcs.Start(store, "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	client, err := srv.NewClient(ctx)
	if err != nil {
		srv.Stop()
		return nil, "", nil, err
	}
	if err := localgcs.EnsureBucket(ctx, client, registryLocalBucket); err != nil {
		client.Close()
		srv.Stop()
		return nil, "", nil, err
	}
	return client.Bucket(registryLocalBucket), "", func() { client.Close(); srv.Stop() }, nil
}

// registryLoopbackOnly reports whether addr is a loopback address (not a
// wildcard).
func registryLoopbackOnly(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
