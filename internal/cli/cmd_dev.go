package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/internal/loadgen"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry"
)

type devConfig struct {
	Dir                   string
	Proto                 string
	PubSubAddr            string
	GCSAddr               string
	RegistryAddr          string
	CollectorAddr         string
	HTTPAddr              string
	Sinks                 string
	BigQueryProject       string
	BigQueryDataset       string
	BigQueryEndpoint      string
	BigQueryWriteEndpoint string
	Demo                  bool
	DemoRate              int
	LogLevel              string
	PProf                 bool
	Sources               string
}

func (c *devConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "folder for everything the stack keeps: schemas, archive, warehouse, Pub/Sub backlog (default .hem)")
	fs.StringVar(&c.Proto, "proto", "proto", "contracts to register at start")
	fs.StringVar(&c.Sources, "sources", "sources", "file source declarations: their buckets are created, and a file dropped into <dir>/inbox/<source>/ is loaded (empty: none)")
	fs.StringVar(&c.PubSubAddr, "pubsub-addr", DefaultPubSubAddr, "Pub/Sub API address")
	fs.StringVar(&c.GCSAddr, "gcs-addr", DefaultGCSAddr, "GCS JSON API address")
	fs.StringVar(&c.RegistryAddr, "registry-addr", DefaultRegistryAddr, "registry gRPC address")
	fs.StringVar(&c.CollectorAddr, "collector-addr", DefaultCollectorAddr, "collector gRPC address")
	fs.StringVar(&c.HTTPAddr, "http-addr", DefaultHTTPAddr, "collector HTTP/JSON address (also /readyz, and, with the dev key and a loopback host name only, /metrics and the warehouse's /v1/sql)")
	fs.StringVar(&c.Sinks, "sinks", strings.Join(devstack.DefaultSinks, ","), "processors to run: duckdb, archive, failed, bigquery")
	fs.StringVar(&c.BigQueryProject, "bigquery-project", "", "BigQuery project, for --sinks bigquery")
	fs.StringVar(&c.BigQueryDataset, "bigquery-dataset", "", "BigQuery dataset, for --sinks bigquery")
	fs.StringVar(&c.BigQueryEndpoint, "bigquery-endpoint", "", "BigQuery REST endpoint of a BigQuery-API-compatible server")
	fs.StringVar(&c.BigQueryWriteEndpoint, "bigquery-write-endpoint", "", "Storage Write API endpoint (host:port, plaintext) of a BigQuery-API-compatible server")
	fs.BoolVar(&c.Demo, "demo", false, "generate a trickle of sample events so the tables fill by themselves")
	fs.IntVar(&c.DemoRate, "demo-rate", 20, "events per second with --demo")
	fs.StringVar(&c.LogLevel, "log-level", "warn", "log level of every service of the stack: debug, info, warn, error")
	fs.BoolVar(&c.PProf, "pprof", false, "serve /debug/pprof on the HTTP address, to loopback host names only (go tool pprof http://127.0.0.1:7072/debug/pprof/profile)")
}

func devCommand() *Command {
	var cfg devConfig
	return &Command{
		Name:    "dev",
		Summary: "run the whole pipeline locally: Pub/Sub, GCS, registry, collector, processors, DuckDB",
		Help: `Starts, in one process and with the production code paths, a Pub/Sub server,
a GCS server backed by <dir>/gcs, the schema registry, the collector and the
processors for the DuckDB warehouse (<dir>/warehouse.duckdb), the GCS Parquet
archive and failed events. It registers the contracts under --proto, prints
its endpoints, a development API key and the commands to try next, and runs
until Ctrl-C, when it stops taking events, drains the queues and flushes.
Restarting keeps schemas, archive, warehouse and any queued events.

Other hem commands find a running hem dev by itself (<dir>/dev.json).

The web console is at http://127.0.0.1:7072/ui/ (the HTTP address, loopback
host names only; sign in with the development key): contracts and their
history, live rates, failed events with replay, SQL over the warehouse.

The HTTP address serves what the production collector does (POST /v1/events,
/healthz, /readyz) and, for the developer only, POST /v1/sql (hem sql's
read-only queries) and /metrics (the collector's and processors' series in
the Prometheus format): both want the dev key (X-Api-Key or Authorization:
Bearer) and a loopback host name (127.0.0.1, localhost, [::1]), so a web
page cannot reach them.

  curl -H "X-Api-Key: $(cat .hem/dev-key)" http://127.0.0.1:7072/metrics`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			return runDev(ctx, io, cfg)
		},
	}
}

func runDev(ctx context.Context, io IO, cfg devConfig) error {
	dir := devDir(cfg.Dir)
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: level}))
	start := time.Now()
	fmt.Fprintf(io.Stderr, "hem dev: starting in %s ...\n", dir)
	st, err := devstack.Start(ctx, devstack.Config{
		Dir:                   dir,
		ProtoDir:              cfg.Proto,
		PubSubAddr:            cfg.PubSubAddr,
		GCSAddr:               cfg.GCSAddr,
		RegistryAddr:          cfg.RegistryAddr,
		CollectorAddr:         cfg.CollectorAddr,
		HTTPAddr:              cfg.HTTPAddr,
		Sinks:                 splitList(cfg.Sinks),
		BigQueryProject:       cfg.BigQueryProject,
		BigQueryDataset:       cfg.BigQueryDataset,
		BigQueryEndpoint:      cfg.BigQueryEndpoint,
		BigQueryWriteEndpoint: cfg.BigQueryWriteEndpoint,
		Logger:                logger,
		PProf:                 cfg.PProf,
		SourcesDir:            cfg.Sources,
	})
	if err != nil {
		return err
	}
	info := &DevInfo{
		PID: os.Getpid(), Registry: st.RegistryAddr, Collector: st.CollectorAddr, HTTP: st.HTTPAddr,
		PubSub: st.PubSubAddr, GCS: st.GCSAddr, Project: devstack.Project, Bucket: devstack.ArchiveBucket,
		APIKey: st.APIKey, Warehouse: st.Warehouse,
	}
	if err := writeDevInfo(dir, info); err != nil {
		return errors.Join(err, st.Close(context.WithoutCancel(ctx)))
	}
	defer os.Remove(filepath.Join(dir, devInfoFile))
	printBanner(io.Stdout, dir, cfg, st, time.Since(start))

	if cfg.Demo {
		go runDemo(ctx, io, st, cfg.DemoRate)
	}
	err = st.Wait(ctx)
	fmt.Fprintln(io.Stderr, "hem dev: stopped; everything accepted is in the warehouse and the archive, or queued for the next start")
	return err
}

func printBanner(w io.Writer, dir string, cfg devConfig, st *devstack.Stack, took time.Duration) {
	fmt.Fprintf(w, "hem dev is up in %s (folder %s)\n\n", took.Round(10*time.Millisecond), dir)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  registry\t%s\tgRPC\n", st.RegistryAddr)
	fmt.Fprintf(tw, "  collector\t%s\tgRPC; HTTP/JSON on http://%s/v1/events\n", st.CollectorAddr, st.HTTPAddr)
	topics, buckets := "hem-events, hem-failed", devstack.RegistryBucket+", "+devstack.ArchiveBucket+", "+devstack.ConsoleBucket
	if len(st.Sources) > 0 {
		topics += ", " + wiring.ObjectsTopic
		buckets += ", " + strings.Join(st.SourceBuckets(), ", ")
	}
	fmt.Fprintf(tw, "  pub/sub\t%s\ttopics %s (project %s)\n", st.PubSubAddr, topics, devstack.Project)
	fmt.Fprintf(tw, "  gcs\thttp://%s\tbuckets %s (files under %s)\n", st.GCSAddr, buckets, filepath.Join(dir, "gcs"))
	fmt.Fprintf(tw, "  warehouse\t%s\tDuckDB; query with hem sql\n", st.Warehouse)
	fmt.Fprintf(tw, "  api key\t%s\tdevelopment key (also in %s)\n", st.APIKey, filepath.Join(dir, "dev-key"))
	if len(st.Sources) > 0 {
		var names []string
		for _, s := range st.Sources {
			names = append(names, s.GetName())
		}
		fmt.Fprintf(tw, "  inbox\t%s\tdrop a file into <source>/ to load it (%s); ledger: hem source status\n",
			devstack.InboxDir(dir)+string(filepath.Separator), strings.Join(names, ", "))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nconsole: %s (sign in with the api key)\n", st.ConsoleURL())
	if st.SourcesErr != nil {
		fmt.Fprintf(w, "\nSome file sources were left out: %v\n", st.SourcesErr)
	}

	fmt.Fprintf(w, "\nContracts from %s:\n", cfg.Proto)
	if st.PushErr != nil {
		fmt.Fprintf(w, "  could not register them: %v\n", st.PushErr)
	}
	printResults(w, st.Pushed)

	fmt.Fprint(w, `
Try, in another terminal (go build -o hem ./cmd/hem first, or use "go run ./cmd/hem"):
  hem emit --type shop.orders.v1.OrderPlaced --json @examples/order.json
  hem sql "select count(*) from shop_orders_v1_order_placed"
  hem loadgen --rate 500 --duration 10s
  hem schema push          (after editing a .proto under proto/)
`)
	if len(st.Sources) > 0 {
		s := st.Sources[0]
		file := "day1" + sampleSuffix(s.GetObjects().GetPattern())
		fmt.Fprintf(w, "  hem source sample %s --rows 1000 --invalid 0.003 > %s\n", s.GetName(), filepath.Join(devstack.InboxDir(dir), s.GetName(), file))
		fmt.Fprintf(w, "  hem source status        (then: hem sql \"select count(*) from _failed_events\")\n")
	}
	fmt.Fprintln(w, "Ctrl-C stops hem dev; it drains queued events first.")
}

// sampleSuffix is the file name ending a source's pattern asks for
// ("catalogue/*.csv.gz" → ".csv.gz").
func sampleSuffix(pattern string) string {
	last := pattern[strings.LastIndex(pattern, "/")+1:]
	if i := strings.LastIndex(last, "*"); i >= 0 {
		return last[i+1:]
	}
	return ""
}

func printResults(w io.Writer, results []registry.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var violations []string
	for _, r := range results {
		ver, id := "", ""
		if r.Schema != nil {
			ver, id = fmt.Sprintf("v%d", r.Schema.Version), fmt.Sprintf("id %d", r.Schema.ID)
		}
		outcome := r.Outcome.String()
		if r.Err != nil {
			outcome += " (" + r.Err.Error() + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Subject, ver, id, outcome)
		for _, v := range r.Violations {
			violations = append(violations, "    "+schemaViolationLine(v.Rule, v.Path, v.Message))
		}
	}
	tw.Flush()
	for _, v := range violations {
		fmt.Fprintln(w, v)
	}
}

func runDemo(ctx context.Context, io IO, st *devstack.Stack, rate int) {
	c, err := client.New(ctx, st.CollectorAddr, client.WithAPIKey(st.APIKey))
	if err != nil {
		fmt.Fprintln(io.Stderr, "hem dev: demo:", err)
		return
	}
	defer c.Close(context.WithoutCancel(ctx))
	_, err = loadgen.Run(ctx, c, loadgen.Config{Rate: rate, InvalidShare: 0.05, Seed: uint64(time.Now().UnixNano())})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(io.Stderr, "hem dev: demo:", err)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
