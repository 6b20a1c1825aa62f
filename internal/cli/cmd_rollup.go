package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/layers/rollup"
	"github.com/hemlabs/hem/sink/duckdb"
)

type rollupRunConfig struct {
	client        clientFlags
	DryRun        bool
	MaxBytes      int64
	Warehouse     string
	Project       string
	Dataset       string
	RollupDataset string
	Location      string
	Endpoint      string
	Overlap       time.Duration
}

func (c *rollupRunConfig) bind(fs *flag.FlagSet) {
	c.client.bind(fs)
	fs.BoolVar(&c.DryRun, "dry-run", false, "show the partitions each rollup would recompute (and, on BigQuery, the bytes it would scan) without writing")
	fs.Int64Var(&c.MaxBytes, "max-bytes", 0, "refuse a BigQuery run whose dry runs add up to more `bytes` than this (0: no budget); also each job's maximum bytes billed")
	fs.StringVar(&c.Warehouse, "warehouse", "", "DuckDB `file` (not one a running hem dev owns); default: the running hem dev's warehouse, through hem dev")
	fs.StringVar(&c.Project, "bigquery-project", "", "Google Cloud project of the BigQuery datasets (runs the query jobs)")
	fs.StringVar(&c.Dataset, "bigquery-dataset", "", "BigQuery dataset of the event tables")
	fs.StringVar(&c.RollupDataset, "rollup-dataset", "", "BigQuery dataset of the rollup tables (default: --bigquery-dataset)")
	fs.StringVar(&c.Location, "bigquery-location", "", "location of the BigQuery datasets, for the jobs and a created rollup dataset")
	fs.StringVar(&c.Endpoint, "bigquery-endpoint", "", "BigQuery REST endpoint of a BigQuery-API-compatible server (http:// means no credentials)")
	fs.DurationVar(&c.Overlap, "overlap", wiring.DefaultRollupOverlap, "how far before the last run's watermark to look for arrivals (rows still on their way then)")
}

func rollupRunCommand() *Command {
	var cfg rollupRunConfig
	return &Command{
		Name:    "rollup run",
		Args:    "[NAME...]",
		Summary: "recompute the rollups' partitions touched since their last run (every rollup when given no name)",
		Help: `Runs each rollup (every registered one when given no name) once: it
recomputes, from one row per event id of the source, the day partitions
holding buckets touched by rows that arrived since the last run, every day
within the rollup's allowed lateness, and every day of the source once
after a new version of the rollup (a new measure is backfilled).

In BigQuery (--bigquery-project, --bigquery-dataset) each day is one query
job replacing the partition rollup_table$YYYYMMDD (WRITE_TRUNCATE), after a
dry run whose bytes are shown; --max-bytes refuses a run over the budget
before any job runs. With --warehouse FILE it runs on a DuckDB file; with
neither it asks the running hem dev, whose rollups also run every 10 s.

  hem rollup run
  hem rollup run shop.orders.v1.SalesByStoreDay --dry-run
  hem rollup run --bigquery-project P --bigquery-dataset hem --rollup-dataset hem_rollups --max-bytes 10000000000`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			return runRollupRun(ctx, io, &cfg, args)
		},
	}
}

func runRollupRun(ctx context.Context, io IO, cfg *rollupRunConfig, names []string) error {
	if cfg.MaxBytes < 0 {
		return errors.New("rollup run: --max-bytes must not be negative")
	}
	opts := rollup.Options{DryRun: cfg.DryRun, MaxBytes: cfg.MaxBytes}
	var reports []*rollup.Report
	var runErr error
	if cfg.Warehouse == "" && cfg.Project == "" {
		info, err := cfg.client.resolve()
		if err != nil {
			return err
		}
		if info == nil || info.HTTP == "" {
			return errors.New("rollup run: no running hem dev: give --warehouse FILE, or --bigquery-project and --bigquery-dataset")
		}
		reports, runErr = devRollups(ctx, info.HTTP, cmp(cfg.client.APIKey, devKeyOf(cfg.client.Dir)), rollup.RunRequest{Names: names, DryRun: cfg.DryRun})
	} else {
		rc := wiring.RollupConfig{BigQuery: rollup.BigQueryConfig{Project: cfg.Project, EventsDataset: cfg.Dataset, Dataset: cfg.RollupDataset, Location: cfg.Location},
			BigQueryEndpoint: cfg.Endpoint, Overlap: cfg.Overlap}
		if cfg.Warehouse != "" {
			w, err := duckdb.Open(ctx, cfg.Warehouse)
			if err != nil {
				return fmt.Errorf("rollup run: %w", err)
			}
			defer w.Close(ctx)
			rc.Warehouse = w
		}
		runner, closeRunner, err := wiring.NewRollupRunner(ctx, rc)
		if err != nil {
			return err
		}
		defer closeRunner()
		reg, err := schemaDial(ctx, &cfg.client)
		if err != nil {
			return err
		}
		defer reg.Close()
		reports, runErr = rollup.RunAll(ctx, runner, reg, names, opts)
	}
	printRollupReports(io.Stdout, reports)
	if cfg.DryRun {
		fmt.Fprintln(io.Stderr, "dry run: nothing was written")
	}
	if runErr != nil {
		return fmt.Errorf("rollup run: %w", runErr)
	}
	return nil
}

func devKeyOf(dir string) string {
	b, err := os.ReadFile(filepath.Join(devDir(dir), "dev-key"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// devRollups asks the running hem dev to run rollups.
func devRollups(ctx context.Context, addr, key string, in rollup.RunRequest) ([]*rollup.Report, error) {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/rollups/run", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hem dev is not answering: %w", err)
	}
	defer resp.Body.Close()
	var out rollup.RunResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("bad answer from hem dev (%s): %w", resp.Status, err)
	}
	if out.Error != "" {
		return out.Reports, errors.New(out.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return out.Reports, fmt.Errorf("hem dev answered %s", resp.Status)
	}
	return out.Reports, nil
}

func printRollupReports(w io.Writer, reports []*rollup.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLLUP\tTABLE\tPARTITIONS\tROWS\tBYTES ESTIMATED\tBYTES SCANNED\tWATERMARK")
	for _, r := range reports {
		parts := fmt.Sprint(len(r.Days))
		switch {
		case len(r.Days) == 1:
			parts += " (" + r.Days[0].Format(time.DateOnly) + ")"
		case len(r.Days) > 1:
			parts += " (" + r.Days[0].Format(time.DateOnly) + " … " + r.Days[len(r.Days)-1].Format(time.DateOnly) + ")"
		}
		if r.Backfill {
			parts += " backfill"
		}
		rows := fmt.Sprint(r.Rows)
		if r.DryRun {
			rows += " (would be)"
		}
		wm := "-"
		if !r.Watermark.IsZero() {
			wm = r.Watermark.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.Rollup, r.Table, parts, rows, r.BytesEstimated, r.BytesProcessed, wm)
	}
	tw.Flush()
}

type rollupListConfig struct {
	client clientFlags
}

func rollupListCommand() *Command {
	var cfg rollupListConfig
	return &Command{
		Name:    "rollup list",
		Summary: "list the registered rollups: source, grain, columns, lateness, retention, table",
		Flags:   func(fs *flag.FlagSet) { cfg.client.bind(fs) },
		Run: func(ctx context.Context, io IO, _ []string) error {
			reg, err := schemaDial(ctx, &cfg.client)
			if err != nil {
				return err
			}
			defer reg.Close()
			jobs, err := rollup.Jobs(ctx, reg)
			if err != nil {
				return fmt.Errorf("rollup list: %w", err)
			}
			tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROLLUP\tSOURCE\tGRAIN\tDIMENSIONS\tMEASURES\tLATENESS\tRETENTION\tTABLE")
			for _, j := range jobs {
				r := j.Rollup
				var dims, ms []string
				for _, d := range r.Dimensions {
					dims = append(dims, d.Column)
				}
				for _, m := range r.Measures {
					ms = append(ms, m.Column)
				}
				ret := "forever"
				if r.RetentionDays > 0 {
					ret = fmt.Sprintf("%dd", r.RetentionDays)
				}
				grain := strings.ToLower(strings.TrimPrefix(r.Grain.String(), "GRAIN_"))
				fmt.Fprintf(tw, "%s\t%s\t%s by %s\t%s\t%s\t%s\t%s\t%s\n", r.Subject, r.Source, grain, r.TimeColumn,
					strings.Join(dims, ","), strings.Join(ms, ","), r.AllowedLateness, ret, r.Table.Name)
			}
			return tw.Flush()
		},
	}
}
