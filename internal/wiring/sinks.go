package wiring

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/duckdb"
)

// SinkEnv is what opening a sink may use: the endpoints, which differ
// between production and hem dev.
type SinkEnv struct {
	// Warehouse opens the DuckDB warehouse (the duckdb sink; the failed
	// sink when BigQuery has no dataset). hem dev hands out its one shared
	// warehouse with a close that does nothing.
	Warehouse func(ctx context.Context) (*duckdb.Warehouse, func(context.Context) error, error)
	// GCS and Bucket are the archive's (the archive sink; the failed
	// sink's copy under failed/).
	GCS    *storage.Client
	Bucket string
	// Prefix overrides the sink's archive prefix (events/, failed/).
	Prefix string
	// BigQuery configures the bigquery sink, and the failed sink's table
	// when Dataset is set.
	BigQuery bigquery.Config
}

// Opened is an open sink.
type Opened struct {
	Sink sink.Sink
	// Migrators are the warehouses whose tables the registry must create
	// and widen before a version is usable.
	Migrators []registry.Migrator
	// Close flushes and closes what opening opened.
	Close func(ctx context.Context) error
}

// SinkKind is one row of the sink table.
type SinkKind struct {
	Name string
	// Summary says what the sink writes, for --help.
	Summary string
	// Batch is the processor's default batch for the sink.
	Batch Batch
	// Failed marks the sink of the hem-failed topic: it stores
	// hem.event.v1.FailedEvent, not events.
	Failed bool
	open   func(ctx context.Context, env SinkEnv) (*Opened, error)
}

// Sinks is the table of sinks, by name.
var Sinks = []SinkKind{
	{
		Name:    "bigquery",
		Summary: "BigQuery tables, through the Storage Write API",
		Batch:   Batch{Count: 1000, Bytes: 8 << 20, Age: time.Second},
		open:    openBigQuerySink,
	},
	{
		Name:    "duckdb",
		Summary: "a DuckDB file (hem dev's warehouse)",
		// DuckDB appends fastest in large transactions.
		Batch: Batch{Count: 20_000, Bytes: 16 << 20, Age: time.Second},
		open:  openDuckDBSink,
	},
	{
		Name:    "archive",
		Summary: "Parquet objects under events/ of the archive bucket",
		// One Parquet object per batch: large batches, few objects.
		Batch: Batch{Count: 50_000, Bytes: 64 << 20, Age: 30 * time.Second},
		open: func(ctx context.Context, env SinkEnv) (*Opened, error) {
			return openArchiveSink(env, ArchiveEventsPrefix)
		},
	},
	{
		Name:    "failed",
		Summary: "failed events: the _failed_events table (BigQuery, else DuckDB) and failed/ of the archive",
		Batch:   Batch{Count: 1000, Bytes: 8 << 20, Age: time.Second},
		Failed:  true,
		open:    openFailedSink,
	},
}

// SinkKindOf returns the row of the sink named name.
func SinkKindOf(name string) (SinkKind, bool) {
	i := slices.IndexFunc(Sinks, func(k SinkKind) bool { return k.Name == name })
	if i < 0 {
		return SinkKind{}, false
	}
	return Sinks[i], true
}

// SinkNames lists the sinks' names, in the table's order.
func SinkNames() []string {
	names := make([]string, len(Sinks))
	for i, k := range Sinks {
		names[i] = k.Name
	}
	return names
}

// OpenSink opens the sink named name.
func OpenSink(ctx context.Context, name string, env SinkEnv) (*Opened, error) {
	k, ok := SinkKindOf(name)
	if !ok {
		return nil, fmt.Errorf("unknown sink %q (choose from %v)", name, SinkNames())
	}
	o, err := k.open(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", name, err)
	}
	return o, nil
}

func openBigQuerySink(ctx context.Context, env SinkEnv) (*Opened, error) {
	bq, err := OpenBigQuery(ctx, env.BigQuery)
	if err != nil {
		return nil, err
	}
	return &Opened{Sink: bq, Migrators: []registry.Migrator{bq}, Close: bq.Close}, nil
}

// OpenBigQuery opens the BigQuery sink (and migrator) of cfg.
func OpenBigQuery(ctx context.Context, cfg bigquery.Config) (*bigquery.Sink, error) {
	if cfg.Project == "" || cfg.Dataset == "" {
		return nil, errors.New("BigQuery needs a project (--bigquery-project or --project) and a dataset (--bigquery-dataset)")
	}
	s, err := bigquery.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open BigQuery %s.%s: %w", cfg.Project, cfg.Dataset, err)
	}
	return s, nil
}

func openDuckDBSink(ctx context.Context, env SinkEnv) (*Opened, error) {
	if env.Warehouse == nil {
		return nil, errors.New("no DuckDB warehouse (--warehouse)")
	}
	w, closeW, err := env.Warehouse(ctx)
	if err != nil {
		return nil, err
	}
	return &Opened{Sink: w, Migrators: []registry.Migrator{w}, Close: closeW}, nil
}

func openArchiveSink(env SinkEnv, prefix string) (*Opened, error) {
	if env.GCS == nil || env.Bucket == "" {
		return nil, errors.New("no archive bucket (--bucket)")
	}
	if env.Prefix != "" {
		prefix = env.Prefix
	}
	a, err := archive.New(env.GCS, env.Bucket, archive.WithPrefix(prefix))
	if err != nil {
		return nil, err
	}
	return &Opened{Sink: a, Close: a.Close}, nil
}

// openFailedSink stores failed events in the _failed_events table (BigQuery
// when it has a dataset, else DuckDB) and under failed/ of the archive; a
// failed event is durable when every one of them has it.
func openFailedSink(ctx context.Context, env SinkEnv) (_ *Opened, err error) {
	var opened []*Opened
	defer func() {
		if err != nil {
			for _, o := range opened {
				_ = o.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	switch {
	case env.BigQuery.Dataset != "":
		o, err := openBigQuerySink(ctx, env)
		if err != nil {
			return nil, err
		}
		o.Migrators = nil // _failed_events is hem's own table, not a contract's
		opened = append(opened, o)
	case env.Warehouse != nil:
		o, err := openDuckDBSink(ctx, env)
		if err != nil {
			return nil, err
		}
		o.Migrators = nil
		opened = append(opened, o)
	}
	if env.GCS != nil {
		o, err := openArchiveSink(env, "failed/")
		if err != nil {
			return nil, err
		}
		opened = append(opened, o)
	}
	switch len(opened) {
	case 0:
		return nil, errors.New("nowhere to store failed events: give a BigQuery dataset, a DuckDB warehouse or an archive bucket")
	case 1:
		return opened[0], nil
	}
	sinks := make([]sink.Sink, len(opened))
	for i, o := range opened {
		sinks[i] = o.Sink
	}
	return &Opened{Sink: sink.Tee(sinks...), Close: func(ctx context.Context) error {
		var errs []error
		for _, o := range slices.Backward(opened) {
			errs = append(errs, o.Close(ctx))
		}
		return errors.Join(errs...)
	}}, nil
}
