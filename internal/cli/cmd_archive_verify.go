package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hemlabs/hem/layers/verify"
	"github.com/hemlabs/hem/sink/duckdb"
)

type archiveVerifyConfig struct {
	Dir       string
	Since     string
	Until     string
	Types     string
	Bucket    string
	Prefix    string
	Samples   int
	warehouse warehouseFlags
}

func (c *archiveVerifyConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "folder of the local stack, to find a running \"hem dev\" (default .hem)")
	fs.StringVar(&c.Since, "since", "7d", "first day of event time: a day (2026-08-01), RFC 3339, or a duration ago (7d); taken back to its midnight (UTC)")
	fs.StringVar(&c.Until, "until", "1h", "end of event time, exclusive, taken back to its hour: a day, RFC 3339, or a duration ago (default 1h, so both sinks caught up)")
	fs.StringVar(&c.Types, "type", "", "event types (subjects) to check, comma-separated (default: every type in the archive)")
	fs.StringVar(&c.Bucket, "bucket", "", "archive bucket (default: the running hem dev's)")
	fs.StringVar(&c.Prefix, "prefix", "events/", "archive prefix")
	fs.IntVar(&c.Samples, "samples", 5, "missing ids listed per gap and side")
	c.warehouse.bind(fs)
}

func archiveVerifyCommand() *Command {
	var cfg archiveVerifyConfig
	return &Command{
		Name:    "archive verify",
		Summary: "compare per type and day the event ids in the archive with the warehouse's; exit 1 on a gap",
		Help: `Every event goes to the archive and to the warehouse through their own
subscriptions, so once both caught up they hold the same event ids. This
compares, per event type and UTC day of event time, the distinct ids of the
archive (only the _event_id column of the objects is read) with those of
the warehouse's table: their counts and checksums (the sum of the first 8
bytes of each id's SHA-256, mod 2^64), and, for a day that differs, the ids
themselves, listing a few missing on each side. Days older than the table's
partition expiration are skipped (hem restore brings them back).

The warehouse is a DuckDB file (--warehouse), the running hem dev's (through
its SQL endpoint), or BigQuery (--project, --dataset; query jobs). It
writes one JSON log line per run ("archive verify", with the number of
gaps) and one per gap ("archive verify gap") to stderr: in production a
log-based metric counts the gap lines and an alert fires on one. It exits 1
when it found a gap.

  hem archive verify --since 7d
  hem archive verify --since 2026-08-01 --type shop.orders.v1.OrderPlaced --project P --dataset hem`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			return runArchiveVerify(ctx, io, &cfg)
		},
	}
}

// devQuerier queries the running hem dev's warehouse over its SQL endpoint.
type devQuerier struct{ addr, key string }

func (d devQuerier) Query(ctx context.Context, query string) (*duckdb.Result, error) {
	return remoteQuery(ctx, d.addr, d.key, query)
}

func (c *archiveVerifyConfig) warehouseOf(ctx context.Context) (verify.Warehouse, func() error, string, error) {
	w := c.warehouse
	if w.To == "" && w.Warehouse == "" && w.Dataset == "" {
		info, err := loadDevInfo(c.Dir)
		if err != nil {
			return nil, nil, "", err
		}
		if info == nil || info.HTTP == "" {
			return nil, nil, "", errors.New("archive verify: give --warehouse FILE, or --project and --dataset, or run hem dev")
		}
		key := info.APIKey
		if key == "" {
			b, err := os.ReadFile(filepath.Join(devDir(c.Dir), "dev-key"))
			if err != nil {
				return nil, nil, "", fmt.Errorf("archive verify: the dev key: %w", err)
			}
			key = strings.TrimSpace(string(b))
		}
		return verify.DuckDB(devQuerier{info.HTTP, key}), func() error { return nil }, "hem dev", nil
	}
	kind, err := w.kind()
	if err != nil {
		return nil, nil, "", fmt.Errorf("archive verify: %w", err)
	}
	if kind == "duckdb" {
		dw, err := duckdb.Open(ctx, w.Warehouse, duckdb.ReadOnly())
		if err != nil {
			return nil, nil, "", fmt.Errorf("archive verify: %w", err)
		}
		return verify.DuckDB(dw), func() error { return dw.Close(ctx) }, w.Warehouse, nil
	}
	bq, err := w.bigQuery(ctx)
	if err != nil {
		return nil, nil, "", fmt.Errorf("archive verify: %w", err)
	}
	return verify.BigQuery(bq, w.Dataset), bq.Close, "bigquery " + w.Project + "." + w.Dataset, nil
}

func runArchiveVerify(ctx context.Context, io IO, cfg *archiveVerifyConfig) error {
	now := time.Now()
	since, err := parseDay(cfg.Since, now)
	if err != nil {
		return fmt.Errorf("archive verify: --since: %w", err)
	}
	until, err := parseDay(cfg.Until, now)
	if err != nil {
		return fmt.Errorf("archive verify: --until: %w", err)
	}
	var types []string
	for t := range strings.SplitSeq(cfg.Types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			types = append(types, t)
		}
	}
	w, closeW, where, err := cfg.warehouseOf(ctx)
	if err != nil {
		return err
	}
	defer closeW()
	reader, closeGCS, err := archiveReader(ctx, cfg.Dir, cfg.Bucket, cfg.Prefix)
	if err != nil {
		return err
	}
	defer closeGCS()

	tw := tabwriter.NewWriter(io.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tDAY\tARCHIVE IDS\tWAREHOUSE IDS\t")
	rep, err := verify.Run(ctx, reader, w, verify.Config{
		Since: since, Until: until, Subjects: types, Samples: cfg.Samples,
		Progress: func(d verify.Day) {
			state := ""
			switch {
			case d.Expired:
				state = "past the table's retention"
			case d.Archive != d.Warehouse:
				state = "GAP"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", d.Subject, d.Day.Format(time.DateOnly), d.Archive.IDs, d.Warehouse.IDs, state)
		},
	})
	tw.Flush()
	if rep == nil {
		return err
	}
	logVerify(slog.New(slog.NewJSONHandler(io.Stderr, nil)), rep, where)
	for _, g := range rep.Gaps {
		fmt.Fprintf(io.Stdout, "gap: %s %s: %d ids archived, %d in the warehouse", g.Subject, g.Day.Day.Format(time.DateOnly), g.Archive.IDs, g.Warehouse.IDs)
		if len(g.NotInWarehouse) > 0 {
			fmt.Fprintf(io.Stdout, "; not in the warehouse: %s", strings.Join(g.NotInWarehouse, ", "))
		}
		if len(g.NotInArchive) > 0 {
			fmt.Fprintf(io.Stdout, "; not in the archive: %s", strings.Join(g.NotInArchive, ", "))
		}
		fmt.Fprintln(io.Stdout)
	}
	fmt.Fprintf(io.Stdout, "archive verify: %d days compared between %s and %s against %s, %d past retention, %d gaps\n",
		len(rep.Days)-rep.Expired(), rep.Since.Format(time.DateOnly), rep.Until.Format(time.RFC3339), where, rep.Expired(), len(rep.Gaps))
	if errors.Is(err, verify.ErrGaps) {
		return Exit(1)
	}
	return err
}

// Messages of verify's log lines, which terraform's log-based metrics
// match (terraform/verify.tf).
const (
	verifyRunMessage = "archive verify"
	verifyGapMessage = "archive verify gap"
)

// logVerify writes the run's structured log lines: one per gap, then one
// for the run.
func logVerify(log *slog.Logger, rep *verify.Report, where string) {
	for _, g := range rep.Gaps {
		log.Error(verifyGapMessage, "type", g.Subject, "table", g.Table, "day", g.Day.Day.Format(time.DateOnly),
			"archive_ids", g.Archive.IDs, "warehouse_ids", g.Warehouse.IDs,
			"not_in_warehouse", g.NotInWarehouse, "not_in_archive", g.NotInArchive)
	}
	level := slog.LevelInfo
	if len(rep.Gaps) > 0 {
		level = slog.LevelError
	}
	log.Log(context.Background(), level, verifyRunMessage, "gaps", len(rep.Gaps), "days", len(rep.Days), "expired_days", rep.Expired(),
		"since", rep.Since.Format(time.RFC3339), "until", rep.Until.Format(time.RFC3339), "warehouse", where)
}
