package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/internal/gctune"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/source/read"
)

type loadConfig struct {
	source     sourceFlags
	Source     string
	Generation int64
	Progress   time.Duration
	Format     string
}

func (c *loadConfig) bind(fs *flag.FlagSet) {
	c.source.bind(fs)
	fs.StringVar(&c.Source, "source", "", "the declared source the object belongs to (default: the one whose bucket and pattern take a gs:// object; required for a local file)")
	fs.Int64Var(&c.Generation, "generation", 0, "generation of a gs:// object (default: the current one)")
	fs.DurationVar(&c.Progress, "progress", 2*time.Second, "how often to print progress on standard error (0: never)")
	fs.StringVar(&c.Format, "format", "table", "how to print the ledger entry at the end: table or json")
}

func loadCommand() *Command {
	var cfg loadConfig
	return &Command{
		Name:    "load",
		Args:    "gs://BUCKET/OBJECT | FILE",
		Summary: "load one object or local file of a declared file source, by hand (backfills, local use)",
		Help: `Loads one object of a landing bucket (gs://BUCKET/OBJECT) or one local file
as the source --source declares it, through the same loader as hem source
run: read, map, check every record, quarantine the file if too many are
rejected, else publish the records to hem-events and the bad ones to
hem-failed, exactly once. The ledger records the object: loading it again
adds nothing and prints its entry. A local file is identified by its path
and its content (its generation is a CRC32C and size of the bytes): the
same file again adds nothing, an edited one loads as a new generation.

The Go garbage collector runs as hem source run's does (GOGC=400; setting
GOGC or GOMEMLIMIT overrides it).

It prints progress on standard error while the file loads (records done and
records/s, from the ledger's checkpoints) and the object's ledger entry at
the end; it exits 1 when the object ends quarantined or failed.

Without --project it loads into the running hem dev (its registry, Pub/Sub,
GCS and ledger); with it, into that project (--ledger-bucket, --registry and
--pii-salt too).

  hem load ./catalogue-2026-12-07.csv.gz --source product-catalogue
  hem load gs://P-hem-landing/catalogue/2026-12-07.csv.gz --project P --ledger-bucket P-hem-source-ledger \
    --registry https://registry-xyz.run.app --pii-salt "$SALT"`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, args []string) error {
			if len(args) != 1 {
				return errors.New("load: want one gs://BUCKET/OBJECT or FILE")
			}
			if cfg.Format != "table" && cfg.Format != "json" {
				return fmt.Errorf("load: --format %q: want table or json", cfg.Format)
			}
			gctune.Apply(gctune.Loader(cfg.source.SpillMax))
			return runLoad(ctx, io, &cfg, args[0])
		},
	}
}

func runLoad(ctx context.Context, io IO, cfg *loadConfig, target string) error {
	log := slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	env, err := cfg.source.open(ctx, log, nil)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = env.close(cctx)
	}()
	l := env.loader

	var src *sourcev1.Source
	if cfg.Source != "" {
		s, ok := l.Source(cfg.Source)
		if !ok {
			return fmt.Errorf("load: no source %q in %s (declared: %s)", cfg.Source, cfg.source.Sources, sourceNames(l))
		}
		src = s
	}
	var obj read.Object
	if rest, ok := strings.CutPrefix(target, "gs://"); ok {
		bucket, name, _ := strings.Cut(rest, "/")
		if bucket == "" || name == "" {
			return fmt.Errorf("load: %q: want gs://BUCKET/OBJECT", target)
		}
		if src == nil {
			s, ok := l.Match(bucket, name)
			if !ok {
				return fmt.Errorf("load: no source takes %s: give --source (declared: %s)", target, sourceNames(l))
			}
			src = s
		}
		if obj, err = read.GCSObject(ctx, env.gcs.Bucket(bucket), name, cfg.Generation); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	} else {
		if src == nil {
			return fmt.Errorf("load: a local file needs --source (declared: %s)", sourceNames(l))
		}
		if obj, err = read.FileObject(target); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	a := obj.Attrs()
	fmt.Fprintf(io.Stderr, "loading %s (%s) as %s → %s\n", a.URI, humanBytes(a.Size), src.GetName(), src.GetSubject())

	start := time.Now()
	stop := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress > 0 {
			printProgress(ctx, io.Stderr, l, src.GetName(), a, cfg.Progress, start, stop)
		}
	}()
	e, err := l.Load(ctx, src, obj)
	close(stop)
	<-progressDone
	if e != nil {
		if err := printEntries(io.Stdout, []*sourcev1.LedgerEntry{e}, cfg.Format); err != nil {
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	took := time.Since(start)
	if doneBefore(e, start) {
		fmt.Fprintf(io.Stderr, "already done on %s: nothing loaded again\n", e.GetFinishedAt().AsTime().Local().Format(time.DateTime))
	} else if took > 0 {
		fmt.Fprintf(io.Stderr, "%d records in %s (%.0f records/s)\n", e.GetRecords(), took.Round(time.Millisecond), float64(e.GetRecords())/took.Seconds())
	}
	if s := e.GetStatus(); s == sourcev1.Status_STATUS_QUARANTINED || s == sourcev1.Status_STATUS_FAILED {
		return Exit(1)
	}
	return nil
}

// doneBefore reports whether e was finished before t: an earlier load.
func doneBefore(e *sourcev1.LedgerEntry, t time.Time) bool {
	return e.GetFinishedAt() != nil && e.GetFinishedAt().AsTime().Before(t)
}

// printProgress prints the load's progress from its ledger entry every
// period until stop closes: the records published so far (its checkpoint)
// out of those the first pass read and checked.
func printProgress(ctx context.Context, w io.Writer, l *wiring.SourceLoader, source string, a read.ObjectAttrs, period time.Duration, start time.Time, stop <-chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	var last int64
	lastAt := start
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case now := <-t.C:
			e, err := l.Ledger().Get(ctx, source, a.URI, a.Generation)
			if err != nil || e.GetStatus() != sourcev1.Status_STATUS_LOADING {
				continue
			}
			if e.GetRecords() == 0 {
				fmt.Fprintf(w, "  %s: reading and checking every record before publishing any\n", now.Sub(start).Round(time.Second))
				continue
			}
			done := e.GetCheckpoint()
			rate := float64(done-last) / now.Sub(lastAt).Seconds()
			last, lastAt = done, now
			fmt.Fprintf(w, "  %s: %d of %d records published (%d rejected), %.0f records/s\n",
				now.Sub(start).Round(time.Second), done, e.GetRecords(), e.GetRejected(), rate)
		}
	}
}

func sourceNames(l *wiring.SourceLoader) string {
	var names []string
	for _, s := range l.Sources() {
		names = append(names, s.GetName())
	}
	return strings.Join(names, ", ")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
