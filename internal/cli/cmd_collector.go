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

	"cloud.google.com/go/pubsub/v2"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/fieldcrypt"
	"github.com/hemlabs/hem/internal/gctune"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry"
)

// collectorServeConfig is the configuration of "hem collector serve".
type collectorServeConfig struct {
	// Collector holds what the flags set of the collector's own
	// configuration; its defaults are wiring's, which hem dev uses too.
	Collector       wiring.CollectorConfig
	Listen          string
	HTTPListen      string
	MetricsListen   string
	Registry        string
	RegistryAPIKey  string
	Project         string
	KeysFile        string
	KeysReload      time.Duration
	PIISalt         string
	CORSOrigins     string
	ShutdownTimeout time.Duration
	IdleTimeout     time.Duration
	// FieldKeys, when set, are the keys of encrypted fields; without them
	// events of contracts with encrypted fields are rejected.
	FieldKeys fieldKeyringFlags
}

func (c *collectorServeConfig) bind(fs *flag.FlagSet) {
	c.Collector = wiring.DefaultCollectorConfig()
	cc := &c.Collector
	fs.StringVar(&c.Listen, "listen", DefaultCollectorAddr, "gRPC address; when equal to --http-listen, gRPC and HTTP share the port (h2c), as on Cloud Run")
	fs.StringVar(&c.HTTPListen, "http-listen", DefaultHTTPAddr, "HTTP address: POST /v1/events, /healthz, /readyz")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "address of the Prometheus GET /metrics endpoint, e.g. 127.0.0.1:9464 for a sidecar; empty (the default) serves none. Never the public port: metrics tell event types and volumes")
	fs.StringVar(&c.Registry, "registry", DefaultRegistryAddr, "registry address: host:port, or https://HOST (TLS with a Google ID token)")
	fs.StringVar(&c.RegistryAPIKey, "registry-api-key", "", "API key for the registry, when it wants one")
	fs.StringVar(&c.Project, "project", "", "GCP project of the Pub/Sub topics (PUBSUB_EMULATOR_HOST points the client at an emulator)")
	fs.StringVar(&cc.EventsTopic, "events-topic", cc.EventsTopic, "topic of accepted events")
	fs.StringVar(&cc.FailedTopic, "failed-topic", cc.FailedTopic, "topic of rejected events (hem.event.v1.FailedEvent)")
	fs.StringVar(&c.KeysFile, "keys-file", "", "producers' keys file (JSON: keys, their types and quotas); required")
	fs.DurationVar(&c.KeysReload, "keys-reload", auth.DefaultReloadInterval, "how often the keys file is reread; a removed key is refused after at most this long")
	fs.StringVar(&cc.Audience, "audience", "", "accept Google ID tokens issued for this audience (the collector's URL)")
	fs.StringVar(&c.PIISalt, "pii-salt", "", "secret key of PII_HANDLING_HASH, at least 16 bytes; required (keep it in Secret Manager)")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", "comma-separated origins browsers may post events from (* for any)")
	fs.Int64Var(&cc.MaxInflightBytes, "max-inflight-bytes", cc.MaxInflightBytes, "bytes of requests processed at once; more is refused with RESOURCE_EXHAUSTED")
	fs.IntVar(&cc.Limits.MaxEventBytes, "max-event-bytes", cc.Limits.MaxEventBytes, "largest payload of one event")
	fs.IntVar(&cc.Limits.MaxBatchBytes, "max-batch-bytes", cc.Limits.MaxBatchBytes, "largest request")
	fs.IntVar(&cc.Limits.MaxBatchEvents, "max-batch-events", cc.Limits.MaxBatchEvents, "most events per request")
	fs.DurationVar(&cc.Publish.DelayThreshold, "publish-delay", cc.Publish.DelayThreshold, "Pub/Sub batching delay")
	fs.IntVar(&cc.Publish.CountThreshold, "publish-count", cc.Publish.CountThreshold, "Pub/Sub batch size in messages")
	fs.IntVar(&cc.Publish.ByteThreshold, "publish-bytes", cc.Publish.ByteThreshold, "Pub/Sub batch size in bytes")
	fs.DurationVar(&cc.Publish.Timeout, "publish-timeout", cc.Publish.Timeout, "how long a publish is retried before its events are answered RETRY")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long shutdown waits for requests in flight")
	fs.DurationVar(&cc.ReadTimeout, "http-read-timeout", cc.ReadTimeout, "longest an HTTP request may take to send its body; slower clients are cut off (408)")
	fs.DurationVar(&c.IdleTimeout, "http-idle-timeout", 2*time.Minute, "how long an idle HTTP connection is kept open")
	fs.DurationVar(&cc.MaxEventAge, "max-event-age", cc.MaxEventAge, "oldest event_time accepted, before the receive time (1825 days: BigQuery refuses streamed rows for partitions more than 5 years back, see cloud.google.com/bigquery/docs/partitioned-tables); a contract partitioned by event time with a partition expiration narrows it to that. Older events are rejected")
	c.FieldKeys.bind(fs, true)
	fs.DurationVar(&cc.MaxEventLead, "max-event-lead", cc.MaxEventLead, "latest event_time accepted, after the receive time (clock skew; BigQuery refuses partitions more than 1 year ahead). Later events are rejected")
}

func (c *collectorServeConfig) validate() error {
	var errs []error
	if c.Project == "" {
		errs = append(errs, errors.New("--project is required"))
	}
	if c.KeysFile == "" {
		errs = append(errs, errors.New("--keys-file is required"))
	}
	if len(c.PIISalt) < 16 {
		errs = append(errs, errors.New("--pii-salt is required, at least 16 bytes"))
	}
	if fk := c.FieldKeys.config(true); fk.Set() || fk.Table != "" {
		errs = append(errs, fk.Validate())
	}
	return errors.Join(errs...)
}

func collectorServeCommand() *Command {
	var cfg collectorServeConfig
	return &Command{
		Name:    "collector serve",
		Summary: "run the collector (gRPC and HTTP/JSON ingestion)",
		Help: `Serves CollectorService over gRPC (with gRPC health checking) and the
HTTP/JSON endpoint POST /v1/events, validates every event against its contract
in the registry, applies PII handling and publishes to Pub/Sub. Rejected events
go to the failed topic. Fields a contract encrypts are encrypted with keys
from --field-keys (GCS) wrapped by --field-kek (Cloud KMS); new keysets are
copied to --field-keys-table. Without them, events of such contracts are
rejected (hem.encrypt.no_keys). On Cloud Run set HEM_LISTEN and HEM_HTTP_LISTEN both to
:$PORT: gRPC and HTTP then share the port.

The Go garbage collector runs with GOGC=400 and, in a container with a memory
limit, GOMEMLIMIT at three quarters of it (about a sixth more events per
CPU-second than Go's defaults); setting GOGC or GOMEMLIMIT overrides either.`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			gctune.Apply(gctune.Collector())
			return serveCollector(ctx, io, &cfg)
		},
	}
}

func serveCollector(ctx context.Context, io IO, cfg *collectorServeConfig) error {
	log := slog.New(slog.NewJSONHandler(io.Stderr, nil))
	keys, err := auth.Load(cfg.KeysFile)
	if err != nil {
		return err
	}
	var regOpts []registry.ClientOption
	if cfg.RegistryAPIKey != "" {
		regOpts = append(regOpts, registry.WithAPIKey(cfg.RegistryAPIKey))
	}
	reg, err := registry.Dial(ctx, cfg.Registry, regOpts...)
	if err != nil {
		return err
	}
	defer reg.Close()
	ps, err := pubsub.NewClient(ctx, cfg.Project, envelope.PublishCodec())
	if err != nil {
		return fmt.Errorf("pubsub: %w", err)
	}
	defer ps.Close()

	promReg := promclient.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(promReg))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer meter.Shutdown(context.WithoutCancel(ctx))

	if fkc := cfg.FieldKeys.config(true); fkc.Set() {
		fkc.OnMirrorError = func(k fieldcrypt.Keyset, err error) {
			log.Warn("field keys: a keyset did not reach the keys table; hem keys sync puts it", "object", k.Name.Type+"/"+k.Name.Kind.String(), "error", err.Error())
		}
		fk, err := wiring.OpenFieldKeys(ctx, fkc)
		if err != nil {
			return err
		}
		defer func() {
			if err := fk.Close(); err != nil {
				log.Warn("field keys: close", "error", err.Error())
			}
		}()
		cfg.Collector.FieldKeys = fk.Keyring
	}
	cfg.Collector.PIISalt = []byte(cfg.PIISalt)
	if cfg.CORSOrigins != "" {
		cfg.Collector.CORSOrigins = strings.Split(cfg.CORSOrigins, ",")
	}
	col, err := wiring.NewCollector(cfg.Collector, reg, ps, keys, log, meter)
	if err != nil {
		return err
	}
	gs := grpc.NewServer(col.GRPCServerOptions()...)
	col.RegisterGRPC(gs)

	var servers []*http.Server
	g, gctx := errgroup.WithContext(ctx)
	serveHTTP := func(addr string, h http.Handler, readTimeout time.Duration) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		// The collector's handler bounds each body itself (h2c included);
		// ReadTimeout is for servers without gRPC streams to keep alive.
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: readTimeout, IdleTimeout: cfg.IdleTimeout}
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		servers = append(servers, srv)
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		return nil
	}
	if cfg.Listen == cfg.HTTPListen {
		// No server-wide ReadTimeout: it would end CollectStream streams.
		if err := serveHTTP(cfg.Listen, col.GRPCAndHTTP(gs, col.HTTPHandler()), 0); err != nil {
			return err
		}
	} else {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return err
		}
		g.Go(func() error { return gs.Serve(ln) })
		if err := serveHTTP(cfg.HTTPListen, col.HTTPHandler(), 10*time.Second+cfg.Collector.ReadTimeout); err != nil {
			ln.Close()
			return err
		}
	}
	if cfg.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{}))
		if err := serveHTTP(cfg.MetricsListen, mux, 30*time.Second); err != nil {
			return err
		}
	}
	g.Go(func() error { return auth.Watch(gctx, cfg.KeysFile, keys, cfg.KeysReload, log) })
	g.Go(func() error {
		if err := reg.Watch(gctx); err != nil {
			log.Warn("registry watch stopped; latest versions refresh by TTL only", "error", err)
		}
		return nil
	})
	log.Info("collector serving", "grpc", cfg.Listen, "http", cfg.HTTPListen, "metrics", cfg.MetricsListen, "project", cfg.Project,
		"events_topic", cfg.Collector.EventsTopic, "failed_topic", cfg.Collector.FailedTopic, "registry", cfg.Registry)

	<-gctx.Done()
	log.Info("collector shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		gs.Stop()
	}
	if err := col.Close(sctx); err != nil {
		log.Error("collector close", "error", err)
	}
	if err := g.Wait(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
