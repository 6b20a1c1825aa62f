package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/duckdb"
)

// sinks are the destinations of the stack's processors, by sink name.
type sinks struct {
	warehouse *duckdb.Warehouse
	byName    map[string]sink.Sink
	migrators []registry.Migrator
	closers   []sink.Sink
}

func openSinks(ctx context.Context, cfg *Config, warehouse string, gcs *storage.Client) (_ *sinks, err error) {
	s := &sinks{byName: map[string]sink.Sink{}}
	defer func() {
		if err != nil {
			_ = s.close(context.WithoutCancel(ctx))
		}
	}()
	// The warehouse is always open: hem sql queries it, and the registry
	// migrates it.
	if s.warehouse, err = duckdb.Open(ctx, warehouse, duckdb.WithMemoryLimit("1GB"),
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
	s.closers = append(s.closers, s.warehouse)
	s.migrators = append(s.migrators, s.warehouse)
	for _, name := range cfg.Sinks {
		switch name {
		case "duckdb":
			s.byName[name] = s.warehouse
		case "archive":
			a, err := archive.New(gcs, ArchiveBucket, archive.WithPrefix("events/"))
			if err != nil {
				return nil, fmt.Errorf("dev: archive: %w", err)
			}
			s.byName[name], s.closers = a, append(s.closers, a)
		case "failed":
			// Failed events go to the warehouse (_failed_events) and the
			// archive's failed/ prefix; durable only when in both.
			a, err := archive.New(gcs, ArchiveBucket, archive.WithPrefix("failed/"))
			if err != nil {
				return nil, fmt.Errorf("dev: failed archive: %w", err)
			}
			s.byName[name], s.closers = processor.Tee(s.warehouse, a), append(s.closers, a)
		case "bigquery":
			// A BigQuery-API-compatible server (or BigQuery itself): the
			// registry migrates its tables too.
			bq, err := bigquery.New(ctx, bigquery.Config{Project: cfg.BigQueryProject, Dataset: cfg.BigQueryDataset,
				Endpoint: cfg.BigQueryEndpoint, WriteEndpoint: cfg.BigQueryWriteEndpoint})
			if err != nil {
				return nil, fmt.Errorf("dev: bigquery: %w", err)
			}
			s.byName[name], s.closers = bq, append(s.closers, bq)
			s.migrators = append(s.migrators, bq)
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
		errs = append(errs, c.Close(ctx))
	}
	s.closers = nil
	return errors.Join(errs...)
}
