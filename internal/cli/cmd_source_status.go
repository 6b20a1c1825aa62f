package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/source/ledger"
)

type sourceStatusConfig struct {
	Dir          string
	Project      string
	LedgerBucket string
	LedgerPrefix string
	Format       string
}

func (c *sourceStatusConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "folder of the local stack, to find a running \"hem dev\" (default .hem)")
	fs.StringVar(&c.Project, "project", "", "Google Cloud project of the ledger bucket (STORAGE_EMULATOR_HOST is honoured); default: the running hem dev")
	fs.StringVar(&c.LedgerBucket, "ledger-bucket", "", "bucket of the ledger (terraform output ledger_bucket; default: hem dev's "+wiring.DevLedgerBucket+")")
	fs.StringVar(&c.LedgerPrefix, "ledger-prefix", wiring.LedgerPrefix, "object prefix of the ledger's entries")
	fs.StringVar(&c.Format, "format", "table", "table or json (one LedgerEntry per line, protojson)")
}

func sourceStatusCommand() *Command {
	var cfg sourceStatusConfig
	return &Command{
		Name:    "source status",
		Args:    "[NAME]",
		Summary: "show the ledger: every object a file source loaded (or is loading), with its counts and status",
		Help: `Lists the ledger's entries, of one source or of all, oldest first: the
object and its generation, its status (LOADING, LOADED, QUARANTINED,
FAILED), the records read, accepted and rejected, why it failed or was
quarantined, and when it started and finished. A LOADING entry shows the
records confirmed so far (its checkpoint) and who holds it.

  hem source status
  hem source status product-catalogue --format json`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) > 1 {
				return errors.New("source status: want at most one source name")
			}
			if cfg.Format != "table" && cfg.Format != "json" {
				return fmt.Errorf("source status: --format %q: want table or json", cfg.Format)
			}
			var name string
			if len(args) == 1 {
				name = args[0]
			}
			return runSourceStatus(ctx, io, &cfg, name)
		},
	}
}

func runSourceStatus(ctx context.Context, io IO, cfg *sourceStatusConfig, name string) error {
	info, err := loadDevInfo(cfg.Dir)
	if err != nil {
		return err
	}
	bucket := cfg.LedgerBucket
	if bucket == "" {
		if cfg.Project != "" {
			return errors.New("source status: --ledger-bucket is required with --project")
		}
		bucket = wiring.DevLedgerBucket
	}
	gcs, err := sourceGCS(ctx, cfg.Project, info)
	if err != nil {
		return fmt.Errorf("source status: %w", err)
	}
	defer gcs.Close()
	entries, err := ledger.New(gcs.Bucket(bucket), cfg.LedgerPrefix).List(ctx, name)
	if perr := printEntries(io.Stdout, entries, cfg.Format); perr != nil {
		return perr
	}
	if err != nil {
		return fmt.Errorf("source status: %w", err)
	}
	return nil
}

// printEntries prints ledger entries as a table, or as protojson lines.
func printEntries(w io.Writer, entries []*sourcev1.LedgerEntry, format string) error {
	if format == "json" {
		for _, e := range entries {
			b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(e)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, string(b))
		}
		return nil
	}
	if len(entries) == 0 {
		fmt.Fprintln(w, "no objects in the ledger")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tOBJECT\tGENERATION\tSTATUS\tRECORDS\tACCEPTED\tREJECTED\tSTARTED\tFINISHED\tREASON")
	for _, e := range entries {
		status := e.GetStatus().String()[len("STATUS_"):]
		records := strconv.FormatInt(e.GetRecords(), 10)
		finished := stamp(e.GetFinishedAt())
		reason := e.GetReason()
		if e.GetStatus() == sourcev1.Status_STATUS_LOADING {
			records = fmt.Sprintf("%d done", e.GetCheckpoint())
			finished = "-"
			if reason == "" {
				reason = fmt.Sprintf("held by %s until %s (attempt %d)", e.GetOwner(), stamp(e.GetLeaseUntil()), e.GetAttempts())
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", e.GetSource(), e.GetUri(), e.GetGeneration(), status,
			records, e.GetAccepted(), e.GetRejected(), stamp(e.GetStartedAt()), finished, reason)
	}
	return tw.Flush()
}

func stamp(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().Local().Format(time.DateTime)
}
