package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"golang.org/x/sync/errgroup"

	"github.com/hemlabs/hem/internal/wire"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/duckdb"
)

type processorConfig struct {
	client                clientFlags
	Sink                  string
	Subscription          string
	Project               string
	FailedTopic           string
	Listen                string
	BatchCount            int
	BatchBytes            int64
	BatchAge              time.Duration
	Pullers               int
	MaxOutstandingMsgs    int64
	MaxOutstandingBytes   int64
	AckDeadline           time.Duration
	BigQueryProject       string
	BigQueryDataset       string
	BigQueryEndpoint      string
	BigQueryWriteEndpoint string
	Bucket                string
	Prefix                string
	Warehouse             string
}

func (c *processorConfig) bind(fs *flag.FlagSet) {
	c.client.bind(fs)
	fs.StringVar(&c.Sink, "sink", "", "where events go: bigquery, archive, duckdb or failed (required)")
	fs.StringVar(&c.Subscription, "subscription", "", "Pub/Sub subscription (default hem-events-<sink>, or hem-failed-sink for failed)")
	fs.StringVar(&c.Project, "project", "", "Google Cloud project of the subscription (PUBSUB_EMULATOR_HOST is honoured)")
	fs.StringVar(&c.FailedTopic, "failed-topic", wire.FailedTopic, "topic for events that can never be written")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address of /healthz and /readyz (\":8080\" on Cloud Run)")
	fs.IntVar(&c.BatchCount, "batch-count", 0, "events per batch (default 1000; 50000 for archive)")
	fs.Int64Var(&c.BatchBytes, "batch-bytes", 0, "payload bytes per batch (default 8 MiB; 64 MiB for archive)")
	fs.DurationVar(&c.BatchAge, "batch-age", 0, "longest a batch waits (default 1s; 30s for archive)")
	fs.IntVar(&c.Pullers, "pullers", 2, "concurrent Pull calls")
	fs.Int64Var(&c.MaxOutstandingMsgs, "max-outstanding-messages", 20000, "messages pulled but not yet acked")
	fs.Int64Var(&c.MaxOutstandingBytes, "max-outstanding-bytes", 256<<20, "bytes pulled but not yet acked")
	fs.DurationVar(&c.AckDeadline, "ack-deadline", 60*time.Second, "the subscription's ack deadline")
	fs.StringVar(&c.BigQueryProject, "bigquery-project", "", "BigQuery project (bigquery and failed sinks)")
	fs.StringVar(&c.BigQueryDataset, "bigquery-dataset", "", "BigQuery dataset (bigquery: the events dataset; failed: the dataset of _failed_events)")
	fs.StringVar(&c.BigQueryEndpoint, "bigquery-endpoint", "", "BigQuery REST endpoint of a BigQuery-API-compatible server")
	fs.StringVar(&c.BigQueryWriteEndpoint, "bigquery-write-endpoint", "", "Storage Write API endpoint (host:port, plaintext)")
	fs.StringVar(&c.Bucket, "bucket", "", "archive bucket (archive and failed sinks)")
	fs.StringVar(&c.Prefix, "prefix", "", "archive object prefix (default events/, or failed/ for the failed sink)")
	fs.StringVar(&c.Warehouse, "warehouse", "", "DuckDB file (duckdb sink; failed sink when no BigQuery dataset is set)")
}

func processorRunCommand() *Command {
	var cfg processorConfig
	return &Command{
		Name:    "processor run",
		Summary: "consume a subscription into a sink (bigquery, archive, duckdb, failed)",
		Help: `Pulls a Pub/Sub subscription, decodes each event with its schema (by the
hem-schema-id attribute, through the registry), batches per event type and
writes to one sink. A message is acked only after the sink reported it
durable; transient failures are retried with backoff; events that can never
be written go to --failed-topic as hem.event.v1.FailedEvent. Several replicas
may share a subscription. SIGTERM drains in-flight batches.

  hem processor run --sink bigquery --project P --bigquery-dataset hem_events --registry https://registry-xyz.run.app`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			return runProcessor(ctx, io, &cfg)
		},
	}
}

func runProcessor(ctx context.Context, io IO, cfg *processorConfig) error {
	if cfg.Sink == "" {
		return errors.New("processor run: --sink is required (bigquery, archive, duckdb or failed)")
	}
	if cfg.Subscription == "" {
		cfg.Subscription = wire.SubscriptionFor(cfg.Sink)
	}
	log := slog.New(slog.NewJSONHandler(io.Stderr, nil)).With("sink", cfg.Sink, "subscription", cfg.Subscription)
	if _, err := cfg.client.resolve(); err != nil {
		return err
	}
	ps, err := pubsubFor(ctx, cfg.Project, cfg.client.Dir)
	if err != nil {
		return err
	}
	defer ps.Close()
	reg, err := registry.Dial(ctx, cfg.client.Registry, registry.WithAPIKey(cfg.client.APIKey))
	if err != nil {
		return fmt.Errorf("processor run: registry: %w", err)
	}
	defer reg.Close()

	s, closeSink, err := openProcessorSink(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeSink(context.WithoutCancel(ctx))

	opts := []processor.Option{
		processor.WithPullers(cfg.Pullers, 1000),
		processor.WithMaxOutstanding(cfg.MaxOutstandingMsgs, cfg.MaxOutstandingBytes),
		processor.WithAckDeadline(cfg.AckDeadline),
		processor.WithPermanentError(func(err error) bool { return errors.Is(err, registry.ErrNotFound) }),
	}
	count, bytes, age := 1000, int64(8<<20), time.Second
	if cfg.Sink == "archive" {
		count, bytes, age = 50_000, 64<<20, 30*time.Second
	}
	if cfg.BatchCount > 0 {
		count = cfg.BatchCount
	}
	if cfg.BatchBytes > 0 {
		bytes = cfg.BatchBytes
	}
	if cfg.BatchAge > 0 {
		age = cfg.BatchAge
	}
	opts = append(opts, processor.WithBatch(count, bytes, age))
	if cfg.Sink == "failed" {
		opts = append(opts, processor.WithFailedMode())
	}
	failed := processor.NewTopicPublisher(ps, cfg.FailedTopic)
	defer failed.Stop()
	p, err := processor.New(processor.NewSubscriptionPuller(ps, cfg.Subscription), s, reg, failed, opts...)
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("processor run: --listen: %w", err)
	}
	srv := &http.Server{Handler: healthHandler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("processor starting", "health", lis.Addr().String(), "registry", cfg.client.Registry)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		defer srv.Shutdown(context.WithoutCancel(gctx))
		return p.Run(gctx)
	})
	err = g.Wait()
	st := p.Stats()
	log.Info("processor stopped", "received", st.Received, "written", st.Written, "acked", st.Acked, "nacked", st.Nacked, "failed", st.Failed)
	return err
}

func healthHandler() http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", ok)
	return mux
}

// pubsubFor connects to Pub/Sub: the running hem dev's server when there is
// one and no project was given, else the project (PUBSUB_EMULATOR_HOST is
// honoured by the client).
func pubsubFor(ctx context.Context, project, dir string) (*pubsub.Client, error) {
	if project == "" {
		info, err := loadDevInfo(dir)
		if err != nil {
			return nil, err
		}
		if info == nil {
			return nil, errors.New("--project is required (or run hem dev)")
		}
		return devPubSub(ctx, info)
	}
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("pub/sub: %w", err)
	}
	return c, nil
}

// openProcessorSink builds the sink named by cfg.Sink.
func openProcessorSink(ctx context.Context, cfg *processorConfig) (sink.Sink, func(context.Context) error, error) {
	switch cfg.Sink {
	case "archive":
		return openArchive(ctx, cfg, "events/")
	case "duckdb":
		if cfg.Warehouse == "" {
			return nil, nil, errors.New("processor run: --warehouse is required for the duckdb sink")
		}
		w, err := openWarehouse(ctx, cfg.Warehouse)
		if err != nil {
			return nil, nil, err
		}
		return w, w.Close, nil
	case "failed":
		// The _failed_events table and the archive's failed/ prefix; an
		// event is durable when it is in both.
		var (
			sinks   []sink.Sink
			closers []func(context.Context) error
		)
		closeAll := func(ctx context.Context) error {
			var errs []error
			for _, c := range closers {
				errs = append(errs, c(ctx))
			}
			return errors.Join(errs...)
		}
		if cfg.Warehouse != "" {
			w, err := openWarehouse(ctx, cfg.Warehouse)
			if err != nil {
				return nil, nil, err
			}
			sinks, closers = append(sinks, w), append(closers, w.Close)
		}
		if cfg.Bucket != "" {
			a, closeGCS, err := openArchive(ctx, cfg, "failed/")
			if err != nil {
				return nil, nil, errors.Join(err, closeAll(ctx))
			}
			sinks, closers = append(sinks, a), append(closers, closeGCS)
		}
		if len(sinks) == 0 {
			return nil, nil, errors.New("processor run: the failed sink needs a table (--warehouse) and/or the archive (--bucket)")
		}
		return processor.Tee(sinks...), closeAll, nil
	}
	return nil, nil, fmt.Errorf("processor run: unknown sink %q (archive, duckdb or failed; bigquery is not built into this binary yet)", cfg.Sink)
}

// openArchive opens the archive sink on --bucket (Google Cloud Storage) or,
// without it, on the running hem dev's bucket.
func openArchive(ctx context.Context, cfg *processorConfig, defaultPrefix string) (sink.Sink, func(context.Context) error, error) {
	info, err := loadDevInfo(cfg.client.Dir)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Bucket == "" && info == nil {
		return nil, nil, errors.New("processor run: --bucket is required for the archive")
	}
	var devInfo *DevInfo
	if cfg.Bucket == "" {
		devInfo = info
	}
	gcs, bucket, err := archiveClient(ctx, devInfo, cfg.Bucket)
	if err != nil {
		return nil, nil, err
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = defaultPrefix
	}
	a, err := archive.New(gcs, bucket, archive.WithPrefix(prefix))
	if err != nil {
		gcs.Close()
		return nil, nil, err
	}
	return a, func(context.Context) error { return gcs.Close() }, nil
}

func openWarehouse(ctx context.Context, path string) (*duckdb.Warehouse, error) {
	return duckdb.Open(ctx, path)
}
