package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/duckdb"
)

// sinks are the destinations of the stack's processors, by sink name,
// opened through wiring's table as the production processors open theirs.
type sinks struct {
	warehouse *duckdb.Warehouse
	byName    map[string]sink.Sink
	migrators []registry.Migrator
	closers   []func(context.Context) error
}

func openSinks(ctx context.Context, cfg *Config, warehouse string, gcs *storage.Client) (_ *sinks, err error) {
	s := &sinks{byName: map[string]sink.Sink{}}
	defer func() {
		if err != nil {
			_ = s.close(context.WithoutCancel(ctx))
		}
	}()
	// The warehouse is always open: hem sql queries it, and the registry
	// migrates it. Every sink of the stack that wants a DuckDB warehouse
	// shares this one.
	// hem sql's hem_decrypt reads the stack's keys; it never creates one.
	readKeys, err := wiring.LocalFieldKeys(cfg.Dir, false)
	if err != nil {
		return nil, fmt.Errorf("dev: field keys: %w", err)
	}
	if s.warehouse, err = duckdb.Open(ctx, warehouse, duckdb.WithMemoryLimit("1GB"),
		duckdb.WithScalarFunc(wiring.DecryptFuncName, wiring.DecryptFunc(readKeys)),
		// Under load the default 16 MB log checkpoints every few seconds.
		duckdb.WithCheckpointThreshold("256MB"),
		// Appends and commits run on the writer's own thread; more DuckDB
		// threads only compete with the pipeline for the same cores.
		duckdb.WithThreads(1),
		// hem sql's queries arrive over HTTP: they read the archive's
		// Parquet files and nothing else, and cannot unlock that.
		duckdb.WithSandbox(ArchiveDir(cfg.Dir))); err != nil {
		return nil, fmt.Errorf("dev: warehouse: %w", err)
	}
	s.closers = append(s.closers, s.warehouse.Close)
	s.migrators = append(s.migrators, s.warehouse)
	env := wiring.SinkEnv{
		Warehouse: func(context.Context) (*duckdb.Warehouse, func(context.Context) error, error) {
			return s.warehouse, func(context.Context) error { return nil }, nil
		},
		GCS:    gcs,
		Bucket: ArchiveBucket,
	}
	if slices.Contains(cfg.Sinks, "bigquery") {
		// A BigQuery-API-compatible server (or BigQuery itself) for the
		// bigquery sink; failed events stay in the local warehouse.
		env.BigQuery = bigquery.Config{Project: cfg.BigQueryProject, Dataset: cfg.BigQueryDataset,
			Endpoint: cfg.BigQueryEndpoint, WriteEndpoint: cfg.BigQueryWriteEndpoint}
	}
	for _, name := range cfg.Sinks {
		sinkEnv := env
		if name == "failed" {
			sinkEnv.BigQuery = bigquery.Config{}
		}
		o, err := wiring.OpenSink(ctx, name, sinkEnv)
		if err != nil {
			return nil, fmt.Errorf("dev: %w", err)
		}
		s.byName[name] = o.Sink
		s.closers = append(s.closers, o.Close)
		for _, m := range o.Migrators {
			if !slices.Contains(s.migrators, m) {
				s.migrators = append(s.migrators, m)
			}
		}
	}
	return s, nil
}

func (s *sinks) queryHandler() http.Handler {
	if s.warehouse == nil {
		return nil
	}
	return s.warehouse.QueryHandler()
}

func (s *sinks) close(ctx context.Context) error {
	var errs []error
	for _, c := range slices.Backward(s.closers) {
		errs = append(errs, c(ctx))
	}
	s.closers = nil
	return errors.Join(errs...)
}
