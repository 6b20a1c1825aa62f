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
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/sync/errgroup"

	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/duckdb"
)

type processorConfig struct {
	client                clientFlags
	Sink                  string
	Subscription          string
	Project               string
	FailedTopic           string
	Listen                string
	PullMode              string
	BatchCount            int
	BatchBytes            int64
	BatchAge              time.Duration
	Pullers               int
	MaxOutstandingMsgs    int64
	MaxOutstandingBytes   int64
	MaxInFlight           int
	AckDeadline           time.Duration
	DrainTimeout          time.Duration
	StatsEvery            time.Duration
	BigQueryProject       string
	BigQueryDataset       string
	BigQueryEndpoint      string
	BigQueryWriteEndpoint string
	BigQueryWrite         bigQueryWriteFlags
	FieldKeys             fieldKeysFlags
	Bucket                string
	Prefix                string
	Warehouse             string
}

func (c *processorConfig) bind(fs *flag.FlagSet) {
	c.client.bind(fs)
	def := wiring.DefaultProcessorConfig("")
	fs.StringVar(&c.Sink, "sink", "", "where events go: "+sinkChoices()+" (required)")
	fs.StringVar(&c.Subscription, "subscription", "", "Pub/Sub subscription (default hem-events-<sink>, or hem-failed-sink for failed)")
	fs.StringVar(&c.Project, "project", "", "Google Cloud project of the subscription (PUBSUB_EMULATOR_HOST is honoured; default: the running hem dev)")
	fs.StringVar(&c.FailedTopic, "failed-topic", envelope.FailedTopic, "topic for events that can never be written")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address of /healthz, /readyz and /metrics (\":8080\" on Cloud Run)")
	fs.StringVar(&c.PullMode, "pull-mode", "unary", "unary (Pull calls; fast everywhere) or streaming (StreamingPull through the client library)")
	fs.IntVar(&c.BatchCount, "batch-count", 0, "events per batch (default: the sink's, "+batchDefaults(func(b wiring.Batch) string { return strconv.Itoa(b.Count) })+")")
	fs.Int64Var(&c.BatchBytes, "batch-bytes", 0, "payload bytes per batch (default: the sink's, "+batchDefaults(func(b wiring.Batch) string { return fmt.Sprintf("%d MiB", b.Bytes>>20) })+")")
	fs.DurationVar(&c.BatchAge, "batch-age", 0, "longest a batch waits (default: the sink's, "+batchDefaults(func(b wiring.Batch) string { return b.Age.String() })+")")
	fs.IntVar(&c.Pullers, "pullers", def.Pullers, "concurrent Pull calls (streams in streaming mode)")
	fs.Int64Var(&c.MaxOutstandingMsgs, "max-outstanding-messages", def.MaxOutstandingMessages, "messages pulled but not yet acked")
	fs.Int64Var(&c.MaxOutstandingBytes, "max-outstanding-bytes", def.MaxOutstandingBytes, "bytes pulled but not yet acked")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", def.MaxInFlight, "concurrent sink writes (one per event type at a time)")
	fs.DurationVar(&c.AckDeadline, "ack-deadline", def.AckDeadline, "how long each lease extension of a held message lasts")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", def.DrainTimeout, "how long pending batches may still be written after SIGTERM (Cloud Run kills 10 s after it)")
	fs.DurationVar(&c.StatsEvery, "stats-every", time.Minute, "how often to log the counters (0: never)")
	fs.StringVar(&c.BigQueryProject, "bigquery-project", "", "BigQuery project (bigquery and failed sinks; default --project)")
	fs.StringVar(&c.BigQueryDataset, "bigquery-dataset", "", "BigQuery dataset (bigquery: the events dataset; failed: the dataset of _failed_events)")
	fs.StringVar(&c.BigQueryEndpoint, "bigquery-endpoint", "", "BigQuery REST endpoint of a BigQuery-API-compatible server (http:// means no credentials)")
	fs.StringVar(&c.BigQueryWriteEndpoint, "bigquery-write-endpoint", "", "Storage Write API endpoint of a BigQuery-API-compatible server (host:port; plaintext when http:// or loopback)")
	c.BigQueryWrite.bind(fs)
	c.FieldKeys.bind(fs)
	fs.StringVar(&c.Bucket, "bucket", "", "archive bucket (archive and failed sinks; default: the running hem dev's)")
	fs.StringVar(&c.Prefix, "prefix", "", "archive object prefix (default events/, or failed/ for the failed sink)")
	fs.StringVar(&c.Warehouse, "warehouse", "", "DuckDB file (duckdb sink; failed sink when no BigQuery dataset is set)")
}

func (c *processorConfig) validate() error {
	var errs []error
	if _, ok := wiring.SinkKindOf(c.Sink); !ok {
		if c.Sink == "" {
			errs = append(errs, fmt.Errorf("--sink is required (%s)", sinkChoices()))
		} else {
			errs = append(errs, fmt.Errorf("--sink %q: want %s", c.Sink, sinkChoices()))
		}
	}
	if c.Sink == "bigquery" && c.BigQueryDataset == "" {
		errs = append(errs, errors.New("--sink bigquery needs --bigquery-dataset (and --bigquery-project or --project)"))
	}
	if c.Sink == "bigquery" || c.Sink == "failed" && c.BigQueryDataset != "" {
		if err := c.BigQueryWrite.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.FieldKeys.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.PullMode != "unary" && c.PullMode != "streaming" {
		errs = append(errs, fmt.Errorf("--pull-mode %q: want unary or streaming", c.PullMode))
	}
	if c.BatchCount < 0 || c.BatchBytes < 0 || c.BatchAge < 0 || c.StatsEvery < 0 {
		errs = append(errs, errors.New("--batch-count, --batch-bytes, --batch-age and --stats-every cannot be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("processor run: %w", err)
	}
	return nil
}

// processor is the processor configuration the flags ask for: the sink's
// defaults (wiring's, as in hem dev) with the flags set over them.
func (c *processorConfig) processor() wiring.ProcessorConfig {
	p := wiring.DefaultProcessorConfig(c.Sink)
	if c.Subscription != "" {
		p.Subscription = c.Subscription
	}
	if c.BatchCount > 0 {
		p.Batch.Count = c.BatchCount
	}
	if c.BatchBytes > 0 {
		p.Batch.Bytes = c.BatchBytes
	}
	if c.BatchAge > 0 {
		p.Batch.Age = c.BatchAge
	}
	p.Pullers = c.Pullers
	p.MaxOutstandingMessages, p.MaxOutstandingBytes = c.MaxOutstandingMsgs, c.MaxOutstandingBytes
	p.MaxInFlight = c.MaxInFlight
	p.AckDeadline = c.AckDeadline
	p.DrainTimeout = c.DrainTimeout
	return p
}

// sinkChoices lists the sinks for messages: "a, b or c".
func sinkChoices() string {
	names := wiring.SinkNames()
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// batchDefaults lists each sink's default batch setting for --help.
func batchDefaults(f func(wiring.Batch) string) string {
	var parts []string
	for _, k := range wiring.Sinks {
		parts = append(parts, k.Name+" "+f(k.Batch))
	}
	return strings.Join(parts, ", ")
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
may share a subscription. SIGTERM stops pulling, writes the pending batches
for up to --drain-timeout and hands everything else back to Pub/Sub.

The failed sink reads hem-failed into the _failed_events table (BigQuery, or
DuckDB with --warehouse) and the archive (--bucket, prefix failed/); a
failure is acked when both have it.

/healthz answers while the process runs, /readyz while pulls succeed (and,
for BigQuery, while its Storage Write API can be reached), /metrics serves
the counters in the Prometheus format. While BigQuery is unreachable,
batches fail within seconds and are nacked (logged as "sink write
failed"); nothing is acked that BigQuery did not confirm.

  hem processor run --sink bigquery --project P --bigquery-dataset hem_events --registry https://registry-xyz.run.app`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			return runProcessor(ctx, io, &cfg)
		},
	}
}

func runProcessor(ctx context.Context, io IO, cfg *processorConfig) error {
	if cfg.Subscription == "" {
		cfg.Subscription = envelope.SubscriptionFor(cfg.Sink)
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

	// The failed sink stores hem's own FailedEvent and needs no registry.
	var schemas processor.Schemas
	if cfg.Sink != "failed" {
		reg, err := registry.Dial(ctx, cfg.client.Registry, registry.WithAPIKey(cfg.client.APIKey))
		if err != nil {
			return fmt.Errorf("processor run: registry: %w", err)
		}
		defer reg.Close()
		schemas = reg
	}

	promReg := promclient.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(promReg))
	if err != nil {
		return fmt.Errorf("processor run: metrics: %w", err)
	}
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer meter.Shutdown(context.WithoutCancel(ctx))

	s, closeSink, err := openProcessorSink(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		// Closing does not wait for an unreachable destination: what it
		// did not confirm was not acked and comes back.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sinkCloseTimeout)
		defer cancel()
		if err := closeSink(cctx); err != nil {
			log.Error("closing the sink", "error", err)
		}
	}()

	var streaming *processor.StreamingPuller
	var puller processor.Puller = processor.NewSubscriptionPuller(ps, cfg.Subscription)
	if cfg.PullMode == "streaming" {
		streaming = processor.NewStreamingPuller(ps, cfg.Subscription, pubsub.ReceiveSettings{
			NumGoroutines:          cfg.Pullers,
			MaxOutstandingMessages: int(cfg.MaxOutstandingMsgs),
			MaxOutstandingBytes:    int(cfg.MaxOutstandingBytes),
			ShutdownOptions:        &pubsub.ShutdownOptions{Behavior: pubsub.ShutdownBehaviorWaitForProcessing, Timeout: cfg.DrainTimeout + 2*time.Second},
		})
		puller = streaming
	}
	var failed processor.FailedPublisher
	if cfg.Sink != "failed" {
		tp := processor.NewTopicPublisher(ps, cfg.FailedTopic)
		defer tp.Stop()
		failed = tp
	}
	p, err := wiring.NewProcessor(cfg.processor(), puller, s, schemas, failed, log, meter)
	if err != nil {
		return fmt.Errorf("processor run: %w", err)
	}

	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("processor run: --listen: %w", err)
	}
	srv := &http.Server{Handler: processorHandler(p, s, promhttp.HandlerFor(promReg, promhttp.HandlerOpts{})),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Info("processor starting", "listen", lis.Addr().String(), "registry", cfg.client.Registry, "pull_mode", cfg.PullMode)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("processor run: health endpoint: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		defer srv.Shutdown(context.WithoutCancel(gctx))
		return p.Run(gctx)
	})
	if streaming != nil {
		g.Go(func() error { return streaming.Receive(gctx) })
	}
	if cfg.StatsEvery > 0 {
		g.Go(func() error {
			every(gctx, cfg.StatsEvery, func() { logStats(log, "processor stats", p.Stats()) })
			return nil
		})
	}
	err = g.Wait()
	logStats(log, "processor stopped", p.Stats())
	return err
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func logStats(log *slog.Logger, msg string, st processor.Stats) {
	log.Info(msg, "received", st.Received, "written", st.Written, "acked", st.Acked, "nacked", st.Nacked,
		"failed", st.Failed, "refused", st.Refused, "batches", st.Batches, "outstanding", st.Outstanding)
}

// sinkCloseTimeout bounds closing the sink after the drain.
const sinkCloseTimeout = 5 * time.Second

// processorHandler serves /healthz (the process runs), /readyz (pulls
// succeed and the sink's destination answers) and /metrics.
func processorHandler(p *processor.Processor, s sink.Sink, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		err := p.Ready()
		if hr, ok := s.(sink.HealthReporter); ok && err == nil {
			err = hr.Health()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", metrics)
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
	c, err := pubsub.NewClient(ctx, project, envelope.PublishCodec())
	if err != nil {
		return nil, fmt.Errorf("pub/sub: %w", err)
	}
	return c, nil
}

// openProcessorSink opens the sink named by cfg.Sink through wiring's
// table, on the endpoints the flags name.
func openProcessorSink(ctx context.Context, cfg *processorConfig, log *slog.Logger) (sink.Sink, func(context.Context) error, error) {
	env := wiring.SinkEnv{Prefix: cfg.Prefix}
	if cfg.Sink == "bigquery" || cfg.BigQueryDataset != "" {
		env.BigQuery = cfg.bigQuery(log)
	}
	if cfg.Warehouse != "" {
		env.Warehouse = func(ctx context.Context) (*duckdb.Warehouse, func(context.Context) error, error) {
			w, err := duckdb.Open(ctx, cfg.Warehouse)
			if err != nil {
				return nil, nil, err
			}
			return w, w.Close, nil
		}
	}
	closeGCS := func(context.Context) error { return nil }
	// The archive, and the failed sink's copy: on --bucket, or on the
	// running hem dev's bucket (the failed sink only when it has nowhere
	// else to go).
	if cfg.Sink == "archive" || cfg.Sink == "failed" && (cfg.Bucket != "" || cfg.BigQueryDataset == "" && cfg.Warehouse == "") {
		gcs, bucket, err := openArchiveBucket(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		env.GCS, env.Bucket = gcs, bucket
		closeGCS = func(context.Context) error { return gcs.Close() }
	}
	o, err := wiring.OpenSink(ctx, cfg.Sink, env)
	if err != nil {
		_ = closeGCS(ctx)
		return nil, nil, fmt.Errorf("processor run: %w", err)
	}
	return o.Sink, func(ctx context.Context) error { return errors.Join(o.Close(ctx), closeGCS(ctx)) }, nil
}

// bigQuery is the BigQuery sink's configuration of the flags.
func (c *processorConfig) bigQuery(log *slog.Logger) bigquery.Config {
	cfg := c.BigQueryWrite.config(c.bigQueryProject(), c.BigQueryDataset, c.BigQueryEndpoint, c.BigQueryWriteEndpoint, log)
	cfg.FieldKeys = c.FieldKeys.config()
	return cfg
}

// bigQueryProject is --bigquery-project, else --project.
func (c *processorConfig) bigQueryProject() string {
	if c.BigQueryProject != "" {
		return c.BigQueryProject
	}
	return c.Project
}

// openArchiveBucket connects to --bucket (Google Cloud Storage) or,
// without it, to the running hem dev's archive bucket.
func openArchiveBucket(ctx context.Context, cfg *processorConfig) (*storage.Client, string, error) {
	info, err := loadDevInfo(cfg.client.Dir)
	if err != nil {
		return nil, "", err
	}
	if cfg.Bucket == "" && info == nil {
		return nil, "", fmt.Errorf("processor run: the %s sink needs --bucket (or a running hem dev)", cfg.Sink)
	}
	var devInfo *DevInfo
	if cfg.Bucket == "" {
		devInfo = info
	}
	return archiveClient(ctx, devInfo, cfg.Bucket)
}
