package devstack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/fieldcrypt"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/internal/devpubsub"
	"github.com/hemlabs/hem/internal/gctune"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/layers/rollup"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/sink"
)

// Config is the local stack's configuration. Every address has a flag in
// "hem dev"; port 0 picks a free port (tests).
type Config struct {
	Dir           string
	ProtoDir      string
	PubSubAddr    string
	GCSAddr       string
	RegistryAddr  string
	CollectorAddr string
	HTTPAddr      string
	// Sinks are the processors to run: duckdb, archive, failed, bigquery.
	Sinks []string
	// BigQuery* configure the bigquery sink (and migrator) when Sinks has it.
	BigQueryProject       string
	BigQueryDataset       string
	BigQueryEndpoint      string
	BigQueryWriteEndpoint string
	// DrainTimeout bounds how long shutdown waits for the processors to
	// empty their subscriptions.
	DrainTimeout time.Duration
	// GCPercent and MemoryLimit tune the Go garbage collector of the
	// process (see package gctune); zero picks the defaults, and the GOGC and
	// GOMEMLIMIT environment variables win over both.
	GCPercent   int
	MemoryLimit int64
	// Logger is given to every service of the stack, as the production
	// commands give theirs; nil logs nothing.
	Logger *slog.Logger
	// PProf serves /debug/pprof on the HTTP port (loopback host names only).
	PProf bool
	// RollupInterval is how often every registered rollup is run on the
	// local warehouse (default wiring.DefaultRollupInterval; negative: never,
	// only on request, as hem rollup run asks).
	RollupInterval time.Duration
	// SourcesDir holds the file source declarations (sources/*.yaml): the
	// stack creates their buckets, consumes their object notifications and
	// watches <Dir>/inbox/<source>/. Empty runs no file source.
	SourcesDir string
	// InboxStableFor is how long a dropped file must keep its size before
	// it is taken (default InboxStableFor).
	InboxStableFor time.Duration
	// ArchiveVerifyInterval is how often the stack compares the archive
	// with the warehouse (hem archive verify) when it runs both sinks
	// (default DefaultArchiveVerifyInterval; negative: never).
	ArchiveVerifyInterval time.Duration
}

// DefaultSinks are the processors "hem dev" runs without --sinks.
var DefaultSinks = []string{"duckdb", "archive", "failed"}

func (c *Config) validate() error {
	if c.Dir == "" {
		return errors.New("dev: a folder is required")
	}
	if len(c.Sinks) == 0 {
		c.Sinks = DefaultSinks
	}
	for _, s := range c.Sinks {
		if _, ok := wiring.SinkKindOf(s); !ok {
			return fmt.Errorf("dev: unknown sink %q (choose from %s)", s, strings.Join(wiring.SinkNames(), ", "))
		}
	}
	if slices.Contains(c.Sinks, "bigquery") && (c.BigQueryProject == "" || c.BigQueryDataset == "") {
		return errors.New("dev: the bigquery sink needs --bigquery-project and --bigquery-dataset (and the endpoint variables for a local BigQuery-compatible server)")
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.GCPercent == 0 {
		c.GCPercent = DefaultGCPercent
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.InboxStableFor <= 0 {
		c.InboxStableFor = InboxStableFor
	}
	return nil
}

// Stack is a running local pipeline.
type Stack struct {
	cfg Config
	log *slog.Logger

	// Endpoints, resolved (port 0 replaced).
	PubSubAddr, GCSAddr, RegistryAddr, CollectorAddr, HTTPAddr string
	// APIKey is the development key (schema writes and every event type).
	APIKey string
	// Warehouse is the DuckDB file.
	Warehouse string
	// Pushed is the outcome of registering ProtoDir at start.
	Pushed []registry.Result
	// PushErr is why registering ProtoDir failed, if it did.
	PushErr error
	// Sources are the file sources the stack loads (their inbox is
	// InboxDir(Dir)/<name>/); SourcesErr lists the declarations left out.
	Sources    []*sourcev1.Source
	SourcesErr error

	lock      *os.File
	pubsubSrv *devpubsub.Server
	gcs       *localgcs.Server
	gcsClient *storage.Client
	psClient  *pubsub.Client
	reg       *registry.Registry
	regClient *registry.Client
	coll      *collector.Collector
	sinks     *sinks
	grpcColl  *grpc.Server
	failedPub *processor.TopicPublisher
	httpSrv   *http.Server
	metrics   *telemetry
	console   *wiring.Console
	rollups   *rollup.Runner

	cancel  context.CancelFunc
	group   *errgroup.Group
	procs   []*processorRun
	srcs    *sourcesRun
	closing sync.Once
	ready   chan struct{}
}

// Start brings the stack up. Close takes it down.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	var svc *registry.Service
	s := &Stack{cfg: cfg, log: cfg.Logger, Warehouse: filepath.Join(cfg.Dir, "warehouse.duckdb"), ready: make(chan struct{})}
	gctune.Apply(gctune.Settings{Percent: cfg.GCPercent, MemoryLimit: cfg.MemoryLimit})
	defer func() {
		if err != nil {
			s.abort()
		}
	}()
	if s.lock, err = lockDir(cfg.Dir); err != nil {
		return nil, err
	}
	if s.APIKey, err = devKey(cfg.Dir); err != nil {
		return nil, fmt.Errorf("dev: key: %w", err)
	}
	salt, err := piiSalt(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("dev: salt: %w", err)
	}
	fieldKeys, err := wiring.LocalFieldKeys(cfg.Dir, true)
	if err != nil {
		return nil, fmt.Errorf("dev: field keys: %w", err)
	}
	if s.metrics, err = newTelemetry(); err != nil {
		return nil, err
	}
	keyring := auth.New()
	keyring.Add(s.APIKey, auth.Principal{Name: devPrincipal, Types: []string{"*"}, SchemaWrite: true})

	// Pub/Sub and GCS: the infrastructure.
	if s.pubsubSrv, err = startPubSub(cfg.Dir, cfg.PubSubAddr, s.metrics.provider); err != nil {
		return nil, err
	}
	s.PubSubAddr = s.pubsubSrv.Addr()
	if s.psClient, err = pubsubClient(ctx, Project, s.PubSubAddr); err != nil {
		return nil, err
	}
	if err := ensureTopology(ctx, s.psClient, Project, cfg.Sinks); err != nil {
		return nil, err
	}
	if s.gcs, err = localgcs.Start(filepath.Join(cfg.Dir, "gcs"), cfg.GCSAddr); err != nil {
		return nil, fmt.Errorf("dev: %w (is another hem dev running? use --gcs-addr)", err)
	}
	s.GCSAddr = s.gcs.Addr()
	if s.gcsClient, err = s.gcs.NewClient(ctx); err != nil {
		return nil, err
	}
	for _, b := range []string{RegistryBucket, ArchiveBucket, ConsoleBucket} {
		if err := localgcs.EnsureBucket(ctx, s.gcsClient, b); err != nil {
			return nil, err
		}
	}

	// Sinks first: the registry migrates the warehouse before a version is usable.
	if s.sinks, err = openSinks(ctx, &s.cfg, s.Warehouse, s.gcsClient); err != nil {
		return nil, err
	}
	s.dropExpiredRestores(ctx)
	// The production registry; its store is the local GCS server.
	rc := wiring.DefaultRegistryConfig()
	rc.Prefix = "registry/"
	if s.reg, svc, err = wiring.NewRegistry(ctx, rc, s.gcsClient.Bucket(RegistryBucket), keyring, s.sinks.migrators...); err != nil {
		return nil, err
	}
	regLis, err := listen(cfg.RegistryAddr, "registry", "--registry-addr")
	if err != nil {
		return nil, err
	}
	s.RegistryAddr = regLis.Addr().String()

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.group, _ = errgroup.WithContext(runCtx)
	s.group.Go(func() error { return registry.Serve(runCtx, regLis, svc) })
	s.log.Info("registry serving", "service", "registry", "addr", s.RegistryAddr, "store", "gs://"+RegistryBucket+"/registry/")

	// Contracts: register ./proto through the production path (compile,
	// admission, migrations). Violations are reported, not fatal.
	s.Pushed, s.PushErr = s.pushProto(ctx)

	// The collector, over a real registry client.
	if s.regClient, err = registry.Dial(ctx, s.RegistryAddr, registry.WithAPIKey(s.APIKey)); err != nil {
		return nil, err
	}
	s.group.Go(func() error {
		// As in hem collector serve: without the watch, latest versions
		// still refresh by TTL, so the stack keeps running.
		if err := s.regClient.Watch(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("registry watch stopped; latest versions refresh by TTL only", "service", "collector", "error", err)
		}
		return nil
	})
	s.coll, err = wiring.NewCollector(collectorConfig(salt, fieldKeys), s.regClient, s.psClient, keyring, s.log.With("service", "collector"), s.metrics.provider)
	if err != nil {
		return nil, err
	}
	collLis, err := listen(cfg.CollectorAddr, "collector", "--collector-addr")
	if err != nil {
		return nil, err
	}
	s.CollectorAddr = collLis.Addr().String()
	s.grpcColl = grpc.NewServer(s.coll.GRPCServerOptions()...)
	s.coll.RegisterGRPC(s.grpcColl)
	s.group.Go(func() error { return s.grpcColl.Serve(collLis) })
	s.log.Info("collector serving", "service", "collector", "grpc", s.CollectorAddr, "project", Project)

	// Rollups, continuously, through hem rollup run's code.
	if s.rollups, _, err = wiring.NewRollupRunner(ctx, wiring.RollupConfig{Warehouse: s.sinks.warehouse}); err != nil {
		return nil, err
	}
	if every := cmp.Or(cfg.RollupInterval, wiring.DefaultRollupInterval); every > 0 {
		s.group.Go(func() error { return rollup.Loop(runCtx, s.rollups, s.reg, every, s.log.With("service", "rollup")) })
	}

	if s.console, err = s.startConsole(ctx, keyring); err != nil {
		return nil, err
	}
	s.group.Go(func() error { return s.console.Run(runCtx) })

	httpLis, err := listen(cfg.HTTPAddr, "HTTP", "--http-addr")
	if err != nil {
		return nil, err
	}
	s.HTTPAddr = httpLis.Addr().String()
	// Slow senders are cut off: headers within 10 s, the whole request
	// within the collector's body timeout after them.
	s.httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 10*time.Second + collector.DefaultReadTimeout, IdleTimeout: 2 * time.Minute}
	s.group.Go(func() error {
		if err := s.httpSrv.Serve(httpLis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})

	// The processors, one per sink, each on its own subscription.
	if err := s.startProcessors(runCtx); err != nil {
		return nil, err
	}
	// The warehouse drops what BigQuery's partition expiration would.
	s.group.Go(func() error { return s.runExpiry(runCtx) })
	// File sources: hem source run's consumer and the inbox.
	if err := s.startSources(ctx, runCtx); err != nil {
		return nil, err
	}
	s.group.Go(func() error { return s.runArchiveVerify(runCtx, cfg.ArchiveVerifyInterval) })
	s.log.Info("hem dev serving", "http", s.HTTPAddr, "pprof", cfg.PProf)
	close(s.ready)
	return s, nil
}

// collectorConfig is the production collector's configuration; only the
// salt and the keys of encrypted fields are local (hem dev keeps them in
// its folder).
func collectorConfig(salt string, fieldKeys *fieldcrypt.Keyring) wiring.CollectorConfig {
	c := wiring.DefaultCollectorConfig()
	c.PIISalt = []byte(salt)
	c.FieldKeys = fieldKeys
	return c
}

func (s *Stack) pushProto(ctx context.Context) ([]registry.Result, error) {
	if s.cfg.ProtoDir == "" {
		return nil, nil
	}
	if _, err := os.Stat(s.cfg.ProtoDir); err != nil {
		return nil, fmt.Errorf("contracts folder %s: %w", s.cfg.ProtoDir, err)
	}
	src, err := contract.CompileDir(ctx, s.cfg.ProtoDir)
	if err != nil {
		return nil, err
	}
	all, err := src.Schemas()
	if err != nil {
		return nil, err
	}
	rollups, err := src.RollupSchemas()
	if err != nil {
		return nil, err
	}
	all = append(all, rollups...)
	var candidates []*contract.Schema
	for _, c := range all {
		if !registry.Reserved(c.Subject) { // hem's own types are built in
			candidates = append(candidates, c)
		}
	}
	// Recorded as a push with the dev key would be, from the checkout's HEAD.
	return s.reg.Register(ctx, candidates, registry.PushedBy(devPrincipal), registry.WithCommit(wiring.HeadCommit(ctx, s.cfg.ProtoDir)))
}

// Wait blocks until a component fails or ctx ends, then closes the stack.
func (s *Stack) Wait(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.group.Wait() }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-done:
		if err != nil {
			err = fmt.Errorf("dev: %w", err)
		}
	}
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout+30*time.Second)
	defer cancel()
	return errors.Join(err, s.Close(closeCtx))
}

// Close takes the stack down in the order that loses nothing: stop taking
// events (the collector flushes what it accepted to Pub/Sub), let the
// processors empty their subscriptions into the sinks, stop them, close the
// sinks, then save the Pub/Sub backlog and stop the servers.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	s.closing.Do(func() {
		if s.httpSrv != nil {
			_ = s.httpSrv.Shutdown(ctx)
		}
		// File loads go through the collector: they stop first.
		s.stopSources(ctx)
		if s.coll != nil {
			errs = append(errs, s.coll.Close(ctx))
		}
		if s.grpcColl != nil {
			stopGRPC(ctx, s.grpcColl)
		}
		errs = append(errs, s.drain(ctx))
		errs = append(errs, s.stopProcessors(ctx))
		if s.cancel != nil {
			s.cancel()
		}
		if s.group != nil {
			errs = append(errs, s.group.Wait())
		}
		s.abort()
	})
	return errors.Join(errs...)
}

// drain waits until every subscription of the stack is empty, so that the
// backlog saved at exit is as small as it can be.
func (s *Stack) drain(ctx context.Context) error {
	if s.pubsubSrv == nil || len(s.procs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	unhealthy := map[string]bool{}
	for {
		left := 0
		for _, p := range s.procs {
			// A sink that cannot write (BigQuery unreachable) would hold the
			// whole shutdown for DrainTimeout; its events stay in the log.
			if hr, ok := s.sinks.byName[p.sink].(sink.HealthReporter); ok {
				if err := hr.Health(); err != nil {
					if !unhealthy[p.sink] {
						unhealthy[p.sink] = true
						s.log.Warn("not waiting for a sink that cannot write; its events are kept for the next start", "sink", p.sink, "err", err)
					}
					continue
				}
			}
			n, err := s.pubsubSrv.Backlog(p.subscription)
			if err != nil {
				return err
			}
			left += n
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.log.Warn("stopping with events still queued; they are saved and processed at the next start", "events", left)
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// abort releases whatever was started, in reverse order.
func (s *Stack) abort() {
	if s.console != nil {
		_ = s.console.Close()
	}
	if s.regClient != nil {
		_ = s.regClient.Close()
	}
	if s.sinks != nil {
		_ = s.sinks.close(context.Background())
	}
	if s.psClient != nil {
		_ = s.psClient.Close()
	}
	if s.pubsubSrv != nil {
		if err := s.pubsubSrv.Close(); err != nil {
			s.log.Error("saving the Pub/Sub backlog failed", "err", err)
		}
	}
	if s.gcsClient != nil {
		_ = s.gcsClient.Close()
	}
	if s.gcs != nil {
		s.gcs.Stop()
	}
	if s.metrics != nil {
		_ = s.metrics.close(context.Background())
	}
	if s.lock != nil {
		_ = s.lock.Close()
	}
}

func stopGRPC(ctx context.Context, g *grpc.Server) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		g.Stop()
	}
}

func listen(addr, what, flag string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dev: %s on %s: %w (is another hem dev running? use %s)", what, addr, err, flag)
	}
	return lis, nil
}

// lockDir makes sure one hem dev owns a folder at a time (DuckDB allows one
// writing process per file anyway; this says so clearly).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "dev.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("dev: another hem dev is running on %s (stop it first, or use --dir)", dir)
	}
	return f, nil
}
