package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/hemlabs/hem/layers/restore"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/duckdb"
)

// warehouseFlags name the warehouse a command reads or writes: a DuckDB
// file, or a BigQuery dataset.
type warehouseFlags struct {
	To        string
	Warehouse string
	Project   string
	Dataset   string
	Endpoint  string
}

func (c *warehouseFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.To, "to", "", "warehouse: duckdb (--warehouse) or bigquery (--project, --dataset); default duckdb when --warehouse is set, else bigquery")
	fs.StringVar(&c.Warehouse, "warehouse", "", "DuckDB file (not one a running hem dev owns)")
	fs.StringVar(&c.Project, "project", "", "Google Cloud project of the BigQuery dataset")
	fs.StringVar(&c.Dataset, "dataset", "", "BigQuery dataset of the event tables")
	fs.StringVar(&c.Endpoint, "bigquery-endpoint", "", "BigQuery REST endpoint of a BigQuery-API-compatible server (http:// means no credentials)")
}

func (c *warehouseFlags) kind() (string, error) {
	to := c.To
	if to == "" {
		to = "bigquery"
		if c.Warehouse != "" {
			to = "duckdb"
		}
	}
	switch {
	case to == "duckdb" && c.Warehouse == "":
		return "", errors.New("--to duckdb needs --warehouse FILE")
	case to == "bigquery" && (c.Project == "" || c.Dataset == ""):
		return "", errors.New("--to bigquery needs --project and --dataset (or give --warehouse FILE for DuckDB)")
	case to != "duckdb" && to != "bigquery":
		return "", fmt.Errorf("--to %q: choose duckdb or bigquery", to)
	}
	return to, nil
}

func (c *warehouseFlags) bigQuery(ctx context.Context) (*bigquery.Client, error) {
	var opts []option.ClientOption
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.Endpoint))
		if strings.HasPrefix(c.Endpoint, "http://") {
			opts = append(opts, option.WithoutAuthentication())
		}
	}
	bq, err := bigquery.NewClient(ctx, c.Project, opts...)
	if err != nil {
		return nil, fmt.Errorf("bigquery: %w", err)
	}
	return bq, nil
}

type restoreConfig struct {
	Dir       string
	Type      string
	Since     string
	Until     string
	Table     string
	Expires   string
	Bucket    string
	Prefix    string
	warehouse warehouseFlags
}

func (c *restoreConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "folder of the local stack, to find a running \"hem dev\"'s archive (default .hem)")
	fs.StringVar(&c.Type, "type", "", "event type (subject) to restore, e.g. shop.orders.v1.OrderPlaced")
	fs.StringVar(&c.Since, "since", "", "start of the event-time window: a day (2026-08-01), RFC 3339, or a duration ago (90d, 2h)")
	fs.StringVar(&c.Until, "until", "", "end of the window, exclusive: a day (its midnight), RFC 3339, or a duration ago (default: now)")
	fs.StringVar(&c.Table, "table", "", "restore table (default <table>_restore_<first day>_<last day>)")
	fs.StringVar(&c.Expires, "expires", "7d", "how long the restore table lives: days (7d) or a duration (36h)")
	fs.StringVar(&c.Bucket, "bucket", "", "archive bucket (default: the running hem dev's)")
	fs.StringVar(&c.Prefix, "prefix", "events/", "archive prefix")
	c.warehouse.bind(fs)
}

func restoreCommand() *Command {
	var cfg restoreConfig
	return &Command{
		Name:    "restore",
		Summary: "restore archived events of a past window into a restore table that expires",
		Help: `Reads the archive objects of one event type whose hours overlap
[--since, --until), decodes them with the descriptor sets they carry (no
registry), shapes every version's rows as the newest version in the window
(or as the warehouse's event table is now, when it exists), keeps one row
per event id and loads them into a separate restore table, which expires
after --expires. In BigQuery that is one load job and the table's
expiration time; DuckDB tables do not expire, so hem records the expiry in
_hem_restores and drops expired restore tables at the next restore and when
hem dev opens its warehouse. Restoring into an existing restore table
replaces it.

It prints per day the archived rows read, the distinct ids and their
checksum (the sum of the first 8 bytes of each id's SHA-256, mod 2^64) on
both sides, and fails when the restore table differs from the archive.

  hem restore --type shop.orders.v1.OrderPlaced --since 2026-08-01 --until 2026-08-08 --project P --dataset hem
  hem restore --type shop.orders.v1.OrderPlaced --since 120d --until 90d --to duckdb --warehouse copy.duckdb`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			return runRestore(ctx, io, &cfg)
		},
	}
}

// parseDay reads a time flag: a day (its midnight, UTC), RFC 3339, or a
// duration ago (Go's, or whole days as 7d).
func parseDay(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseDays(s); err == nil {
		return now.Add(-d), nil
	}
	return parseWhen(s, now)
}

// parseDays reads a duration, with whole days as Nd.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("%q: want days as 7d, or a duration", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// archiveReader opens the archive: --bucket, or the running hem dev's.
func archiveReader(ctx context.Context, dir, bucket, prefix string) (*archive.Reader, func() error, error) {
	info, err := loadDevInfo(dir)
	if err != nil {
		return nil, nil, err
	}
	gcs, name, err := archiveClient(ctx, info, bucket)
	if err != nil {
		return nil, nil, err
	}
	return archive.NewReader(gcs, name, prefix), gcs.Close, nil
}

func runRestore(ctx context.Context, io IO, cfg *restoreConfig) error {
	now := time.Now()
	if cfg.Type == "" {
		return errors.New("restore: --type is required (the subject, e.g. shop.orders.v1.OrderPlaced)")
	}
	if cfg.Since == "" {
		return errors.New("restore: --since is required")
	}
	since, err := parseDay(cfg.Since, now)
	if err != nil {
		return fmt.Errorf("restore: --since: %w", err)
	}
	until, err := parseDay(cfg.Until, now)
	if err != nil {
		return fmt.Errorf("restore: --until: %w", err)
	}
	expires, err := parseDays(cfg.Expires)
	if err != nil || expires <= 0 {
		return fmt.Errorf("restore: --expires %q: want a positive number of days (7d) or a duration", cfg.Expires)
	}
	kind, err := cfg.warehouse.kind()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	reader, closeGCS, err := archiveReader(ctx, cfg.Dir, cfg.Bucket, cfg.Prefix)
	if err != nil {
		return err
	}
	defer closeGCS()

	var target restore.Target
	switch kind {
	case "duckdb":
		w, err := duckdb.Open(ctx, cfg.warehouse.Warehouse)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer w.Close(ctx)
		target = restore.NewDuckDB(w, cfg.Type, since, until, nil)
	case "bigquery":
		bq, err := cfg.warehouse.bigQuery(ctx)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer bq.Close()
		target = restore.NewBigQuery(bq, cfg.warehouse.Dataset)
	}
	last := time.Now()
	res, err := restore.Run(ctx, reader, target, restore.Config{
		Subject: cfg.Type, Since: since, Until: until, Table: cfg.Table, Expires: expires,
		ProgressEvery: 50_000,
		Progress: func(p restore.Progress) {
			if time.Since(last) > 2*time.Second {
				fmt.Fprintf(io.Stderr, "restore: %d of %d objects, %d rows read\n", p.Objects, p.ObjectsTotal, p.Rows)
				last = time.Now()
			}
		},
	})
	if res != nil {
		printRestore(io, res, kind)
	}
	return err
}

func printRestore(io IO, res *restore.Result, kind string) {
	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tROWS READ\tARCHIVE IDS\tTABLE IDS\tARCHIVE CHECKSUM\tTABLE CHECKSUM\t")
	for _, d := range res.Days {
		mark := ""
		if d.Archive != d.Table {
			mark = "DIFFERS"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%016x\t%016x\t%s\n", d.Day.Format(time.DateOnly), d.Rows, d.Archive.IDs, d.Table.IDs, d.Archive.Checksum, d.Table.Checksum, mark)
	}
	tw.Flush()
	rate := 0.0
	if s := res.Elapsed.Seconds(); s > 0 {
		rate = float64(res.Rows) / s
	}
	fmt.Fprintf(io.Stdout, "restore: %d rows of %d objects read, %d events (version %d's shape) loaded into %s table %s in %s (%.0f rows/s); it expires %s\n",
		res.Rows, res.Objects, res.Loaded, res.Shape.Version, kind, res.Table, res.Elapsed.Round(time.Millisecond), rate, res.Expires.UTC().Format(time.RFC3339))
}
