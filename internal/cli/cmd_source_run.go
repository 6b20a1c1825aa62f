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
	"os"
	"path/filepath"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/option"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/internal/gctune"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry"
)

// sourceFlags are the flags of the commands that load file sources (hem
// load, hem source run): where the declarations, the ledger, the registry,
// Pub/Sub and GCS are. Without --project they are the running hem dev's.
type sourceFlags struct {
	client       clientFlags
	Sources      string
	Project      string
	LedgerBucket string
	LedgerPrefix string
	EventsTopic  string
	FailedTopic  string
	PIISalt      string
	Workers      int
	Lease        time.Duration
	SpillDir     string
	SpillMax     int64
}

func (c *sourceFlags) bind(fs *flag.FlagSet) {
	c.client.bind(fs)
	def := wiring.DefaultSourceConfig()
	cc := wiring.DefaultCollectorConfig()
	fs.StringVar(&c.Sources, "sources", def.Dir, "folder of the file source declarations (*.yaml)")
	fs.StringVar(&c.Project, "project", "", "Google Cloud project of Pub/Sub and GCS (PUBSUB_EMULATOR_HOST and STORAGE_EMULATOR_HOST are honoured); default: the running hem dev")
	fs.StringVar(&c.LedgerBucket, "ledger-bucket", "", "bucket of the ledger (terraform output ledger_bucket; default: hem dev's "+wiring.DevLedgerBucket+")")
	fs.StringVar(&c.LedgerPrefix, "ledger-prefix", def.LedgerPrefix, "object prefix of the ledger's entries")
	fs.StringVar(&c.EventsTopic, "events-topic", cc.EventsTopic, "topic of accepted events")
	fs.StringVar(&c.FailedTopic, "failed-topic", cc.FailedTopic, "topic of rejected records (hem.event.v1.FailedEvent)")
	fs.StringVar(&c.PIISalt, "pii-salt", "", "secret key of PII_HANDLING_HASH, the collector's (at least 16 bytes); required with --project, default: hem dev's")
	fs.IntVar(&c.Workers, "workers", 0, "records mapped and checked at once per load (default: one per CPU)")
	fs.DurationVar(&c.Lease, "lease", def.Lease, "how long an object stays this loader's without a checkpoint; after a crash, another loader takes it over once it ends")
	fs.StringVar(&c.SpillDir, "spill-dir", def.SpillDir, "folder of the temporary file where a load keeps its first pass's records for the second (default: the system's temporary folder; on Cloud Run that is memory)")
	fs.Int64Var(&c.SpillMax, "spill-max-bytes", def.SpillMaxBytes, "largest temporary file per load; a larger object is read a second time instead (0: never spill)")
}

// sourceEnv is a file source loader wired to its services, and how to
// close them.
type sourceEnv struct {
	loader *wiring.SourceLoader
	gcs    *storage.Client
	ps     *pubsub.Client
	closes []func(context.Context) error
}

func (e *sourceEnv) close(ctx context.Context) error {
	var errs []error
	for i := len(e.closes) - 1; i >= 0; i-- {
		errs = append(errs, e.closes[i](ctx))
	}
	return errors.Join(errs...)
}

// devSalt reads the PII salt of the hem dev in dir.
func devSalt(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(devDir(dir), "pii-salt"))
	if err != nil {
		return "", fmt.Errorf("the PII salt of hem dev: %w (give --pii-salt)", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// sourceGCS connects to GCS: the running hem dev's server without
// --project, else Google Cloud Storage.
func sourceGCS(ctx context.Context, project string, info *DevInfo) (*storage.Client, error) {
	if project == "" {
		if info == nil {
			return nil, errors.New("--project is required (or run hem dev)")
		}
		c, err := storage.NewClient(ctx, option.WithEndpoint("http://"+info.GCS+"/storage/v1/"), option.WithoutAuthentication(), storage.WithJSONReads())
		if err != nil {
			return nil, fmt.Errorf("gcs of hem dev: %w", err)
		}
		return c, nil
	}
	c, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	return c, nil
}

// open wires the loader: declarations, registry client, a collector of
// its own over Pub/Sub (the production core, with no keys: its only
// producers are the sources), GCS and the ledger.
func (c *sourceFlags) open(ctx context.Context, log *slog.Logger, meter metric.MeterProvider) (_ *sourceEnv, err error) {
	info, err := c.client.resolve()
	if err != nil {
		return nil, err
	}
	if c.Project == "" && info == nil {
		return nil, errors.New("--project is required (or run hem dev)")
	}
	srcs, err := wiring.LoadDeclarations(c.Sources)
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("no file source declared in %s", c.Sources)
	}
	salt := c.PIISalt
	if salt == "" && c.Project == "" {
		if salt, err = devSalt(c.client.Dir); err != nil {
			return nil, err
		}
	}
	if len(salt) < 16 {
		return nil, errors.New("--pii-salt is required, at least 16 bytes (the collector's: hashed PII must match)")
	}
	ledgerBucket := c.LedgerBucket
	if ledgerBucket == "" {
		if c.Project != "" {
			return nil, errors.New("--ledger-bucket is required with --project")
		}
		ledgerBucket = wiring.DevLedgerBucket
	}

	env := &sourceEnv{}
	defer func() {
		if err != nil {
			_ = env.close(context.WithoutCancel(ctx))
		}
	}()
	if env.ps, err = pubsubFor(ctx, c.Project, c.client.Dir); err != nil {
		return nil, err
	}
	env.closes = append(env.closes, func(context.Context) error { return env.ps.Close() })
	if env.gcs, err = sourceGCS(ctx, c.Project, info); err != nil {
		return nil, err
	}
	env.closes = append(env.closes, func(context.Context) error { return env.gcs.Close() })
	reg, err := registry.Dial(ctx, c.client.Registry, registry.WithAPIKey(c.client.APIKey))
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	env.closes = append(env.closes, func(context.Context) error { return reg.Close() })

	cc := wiring.DefaultCollectorConfig()
	cc.EventsTopic, cc.FailedTopic = c.EventsTopic, c.FailedTopic
	cc.PIISalt = []byte(salt)
	coll, err := wiring.NewCollector(cc, reg, env.ps, auth.New(), log, meter)
	if err != nil {
		return nil, err
	}
	// Closing flushes what the collector still has to publish.
	env.closes = append(env.closes, coll.Close)

	sc := wiring.DefaultSourceConfig()
	sc.Dir, sc.LedgerBucket, sc.LedgerPrefix = c.Sources, ledgerBucket, c.LedgerPrefix
	sc.Workers, sc.Lease = c.Workers, c.Lease
	sc.SpillDir, sc.SpillMaxBytes = c.SpillDir, c.SpillMax
	if env.loader, err = wiring.NewSourceLoader(sc, srcs, coll, reg, env.gcs, log); err != nil {
		return nil, err
	}
	return env, nil
}

type sourceRunConfig struct {
	source          sourceFlags
	Subscription    string
	Listen          string
	Loads           int
	MaxLoadTime     time.Duration
	ShutdownTimeout time.Duration
	StatsEvery      time.Duration
}

func (c *sourceRunConfig) bind(fs *flag.FlagSet) {
	c.source.bind(fs)
	def := wiring.DefaultSourceRunSettings()
	fs.StringVar(&c.Subscription, "subscription", wiring.ObjectsSubscription, "subscription of the landing buckets' object notifications (JSON_API_V1)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address of /healthz, /readyz and /metrics (\":8080\" on Cloud Run)")
	fs.IntVar(&c.Loads, "loads", def.Loads, "objects loaded at once")
	fs.DurationVar(&c.MaxLoadTime, "max-load-time", def.MaxLoadTime, "how long a notification is held while its object loads; a longer load is redelivered and resumes from the ledger's checkpoint")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", def.ShutdownTimeout, "how long loads may go on after SIGTERM before they stop at their checkpoint (Cloud Run kills 10 s after it)")
	fs.DurationVar(&c.StatsEvery, "stats-every", time.Minute, "how often to log the counters (0: never)")
}

func (c *sourceRunConfig) validate() error {
	var errs []error
	if c.Loads < 1 {
		errs = append(errs, errors.New("--loads must be at least 1"))
	}
	if c.MaxLoadTime < time.Minute {
		errs = append(errs, errors.New("--max-load-time must be at least 1m"))
	}
	if c.ShutdownTimeout < 0 || c.StatsEvery < 0 {
		errs = append(errs, errors.New("--shutdown-timeout and --stats-every cannot be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("source run: %w", err)
	}
	return nil
}

func sourceRunCommand() *Command {
	var cfg sourceRunConfig
	return &Command{
		Name:    "source run",
		Summary: "load each new object of a declared file source, from the landing buckets' notifications",
		Help: `Pulls the object notifications of the landing buckets (Cloud Storage's
OBJECT_FINALIZE, payload JSON_API_V1, on --subscription), finds the
declaration under --sources whose bucket and pattern take the object, and
loads it through the collector's core into hem-events (bad records into
hem-failed), exactly once: the ledger (--ledger-bucket) records every
(source, object, generation). A notification is acked once the ledger says
the object is loaded, quarantined or failed; nacked, to come again, while
another loader holds it or the load cannot go on (registry or Pub/Sub
down). Objects no source declares are acked and logged. SIGTERM stops
pulling and gives running loads --shutdown-timeout; a load cut off resumes
from its checkpoint wherever its notification lands next.

The Go garbage collector runs with GOGC=400 and, in a container with a
memory limit, GOMEMLIMIT at three quarters of what --loads spill files of
--spill-max-bytes leave of it (on Cloud Run they are memory); setting GOGC
or GOMEMLIMIT overrides either.

/healthz answers while the process runs, /readyz while the subscription's
stream runs, /metrics serves the counters in the Prometheus format.

Without --project it runs against the running hem dev (which runs the same
consumer itself).

  hem source run --project P --ledger-bucket P-hem-source-ledger --registry https://registry-xyz.run.app --pii-salt "$SALT"`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			if err := cfg.validate(); err != nil {
				return err
			}
			gctune.Apply(gctune.Loader(int64(cfg.Loads) * cfg.source.SpillMax))
			return runSourceRun(ctx, io, &cfg)
		},
	}
}

func runSourceRun(ctx context.Context, io IO, cfg *sourceRunConfig) error {
	log := slog.New(slog.NewJSONHandler(io.Stderr, nil)).With("subscription", cfg.Subscription)
	promReg := promclient.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(promReg))
	if err != nil {
		return fmt.Errorf("source run: metrics: %w", err)
	}
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer meter.Shutdown(context.WithoutCancel(ctx))

	env, err := cfg.source.open(ctx, log, meter)
	if err != nil {
		return fmt.Errorf("source run: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := env.close(cctx); err != nil {
			log.Error("closing", "error", err)
		}
	}()
	runner, err := wiring.NewSourceRunner(env.loader, log, meter)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("source run: --listen: %w", err)
	}
	srv := &http.Server{Handler: sourceRunHandler(runner, promhttp.HandlerFor(promReg, promhttp.HandlerOpts{})),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	var names []string
	for _, s := range env.loader.Sources() {
		names = append(names, s.GetName())
	}
	log.Info("source run starting", "listen", lis.Addr().String(), "sources", names, "registry", cfg.source.client.Registry)

	set := wiring.DefaultSourceRunSettings()
	set.Loads, set.MaxLoadTime, set.ShutdownTimeout = cfg.Loads, cfg.MaxLoadTime, cfg.ShutdownTimeout
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("source run: health endpoint: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		defer srv.Shutdown(context.WithoutCancel(gctx))
		return runner.Run(gctx, env.ps.Subscriber(cfg.Subscription), set)
	})
	if cfg.StatsEvery > 0 {
		g.Go(func() error {
			every(gctx, cfg.StatsEvery, func() { logSourceStats(log, "source run stats", runner.Stats()) })
			return nil
		})
	}
	err = g.Wait()
	logSourceStats(log, "source run stopped", runner.Stats())
	return err
}

func logSourceStats(log *slog.Logger, msg string, st wiring.SourceRunStats) {
	log.Info(msg, "notifications", st.Notifications, "loaded", st.Loaded, "quarantined", st.Quarantined, "failed", st.Failed,
		"ignored", st.Ignored, "missing", st.Missing, "retried", st.Retried, "loading", st.Loading)
}

// sourceRunHandler serves /healthz (the process runs), /readyz (the
// subscription's stream runs) and /metrics.
func sourceRunHandler(r *wiring.SourceRunner, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", metrics)
	return mux
}
