package wiring

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/hemlabs/hem/layers/rollup"
	"github.com/hemlabs/hem/sink/duckdb"
)

// RollupConfig is hem rollup run's configuration (and hem dev's rollup
// loop's): which warehouse the rollups are computed in.
type RollupConfig struct {
	// Warehouse is the local DuckDB warehouse; nil means BigQuery.
	Warehouse *duckdb.Warehouse
	// BigQuery places the event and rollup datasets.
	BigQuery rollup.BigQueryConfig
	// BigQueryEndpoint is a BigQuery-API-compatible REST endpoint; an
	// http:// one is used without credentials.
	BigQueryEndpoint string
	// Overlap is how far before the stored watermark a run looks for
	// arrivals (rollup.WithOverlap).
	Overlap time.Duration
}

// DefaultRollupInterval is how often hem dev runs its rollups.
const DefaultRollupInterval = 10 * time.Second

// DefaultRollupOverlap is the default RollupConfig.Overlap.
const DefaultRollupOverlap = time.Hour

// NewRollupRunner returns the runner of cfg's warehouse and a function that
// releases what it opened.
func NewRollupRunner(ctx context.Context, cfg RollupConfig) (*rollup.Runner, func() error, error) {
	overlap := cfg.Overlap
	if overlap == 0 {
		overlap = DefaultRollupOverlap
	}
	if cfg.Warehouse != nil {
		return rollup.NewDuckDB(cfg.Warehouse, rollup.WithOverlap(overlap)), func() error { return nil }, nil
	}
	b := cfg.BigQuery
	if b.Project == "" || b.EventsDataset == "" {
		return nil, nil, errors.New("rollup: BigQuery needs --bigquery-project and --bigquery-dataset (or a DuckDB warehouse)")
	}
	if b.Dataset == "" {
		b.Dataset = b.EventsDataset
	}
	var opts []option.ClientOption
	if cfg.BigQueryEndpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.BigQueryEndpoint))
		if strings.HasPrefix(cfg.BigQueryEndpoint, "http://") {
			opts = append(opts, option.WithoutAuthentication())
		}
	}
	c, err := bigquery.NewClient(ctx, b.Project, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("rollup: bigquery: %w", err)
	}
	r, err := rollup.NewBigQuery(c, b, rollup.WithOverlap(overlap))
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return r, c.Close, nil
}
