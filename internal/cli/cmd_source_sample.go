package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hemlabs/hem/source/sample"
)

type sourceSampleConfig struct {
	Rows         int
	Invalid      float64
	Seed         int64
	Date         string
	Revision     int
	Uncompressed bool
	Force        bool
}

func (c *sourceSampleConfig) bind(fs *flag.FlagSet) {
	fs.IntVar(&c.Rows, "rows", 1000, "how many records")
	fs.Float64Var(&c.Invalid, "invalid", 0, "share of records (0..1) that break a rule of the contract: exactly round(invalid × rows) of them")
	fs.Int64Var(&c.Seed, "seed", 1, "random seed: the same seed (and date and revision) writes the same file")
	fs.StringVar(&c.Date, "date", "", "day the export covers, YYYY-MM-DD (default yesterday, UTC): listing dates lie in the two years before it, counts on it")
	fs.IntVar(&c.Revision, "revision", 0, "a corrected re-export: revision R > 0 changes the price or count of every tenth record and nothing else")
	fs.BoolVar(&c.Uncompressed, "uncompressed", false, "write plain CSV or NDJSON instead of compressed or zipped as the source declares")
	fs.BoolVar(&c.Force, "force", false, "write compressed output even when standard output is a terminal")
}

func sourceSampleCommand() *Command {
	var cfg sourceSampleConfig
	return &Command{
		Name:    "source sample",
		Args:    "NAME",
		Summary: "write a sample file of a sample source (product-catalogue, stock-count) to standard output",
		Help: `Writes a file as the sample source NAME of sources/ expects it, to
standard output: product-catalogue is a supplier's gzipped CSV (';',
Latin-1, decimal commas), stock-count the stores' counts as NDJSON in a zip.
Exactly round(--invalid × --rows) records break a rule of the contract (an
empty SKU, a 12-digit EAN, a negative count...): they map fine and the
collector rejects them. Standard error lists their lines.

  hem source sample product-catalogue --rows 1000 --invalid 0.003 > catalogue-1.csv.gz
  hem source sample stock-count --rows 500 > stock-1.zip
  hem source sample product-catalogue --rows 1000 --revision 1 > catalogue-2.csv.gz`,
		Flags: cfg.bind,
		Run: func(_ context.Context, io IO, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("source sample: want one NAME (%s), got %d arguments", strings.Join(sample.Names(), ", "), len(args))
			}
			return runSourceSample(io, args[0], cfg)
		},
	}
}

// maxListed is how many invalid lines the summary on standard error names.
const maxListed = 20

func runSourceSample(io IO, name string, cfg sourceSampleConfig) error {
	// A daily export covers the day before: its times are all past.
	day := time.Now().UTC().AddDate(0, 0, -1)
	if cfg.Date != "" {
		d, err := time.Parse(time.DateOnly, cfg.Date)
		if err != nil {
			return fmt.Errorf("source sample: --date: %w", err)
		}
		day = d
	}
	if !cfg.Uncompressed && !cfg.Force && isTerminal(io.Stdout) {
		return errors.New("source sample: not writing compressed data to a terminal: redirect standard output to a file, or add --uncompressed (or --force)")
	}
	var bad []sample.Invalid
	opts := []sample.Option{
		sample.WithDate(day),
		sample.WithRevision(cfg.Revision),
		sample.WithInvalidRecords(func(i sample.Invalid) { bad = append(bad, i) }),
	}
	if cfg.Uncompressed {
		opts = append(opts, sample.WithoutCompression())
	}
	if err := sample.Write(io.Stdout, name, cfg.Rows, cfg.Invalid, cfg.Seed, opts...); err != nil {
		return fmt.Errorf("source sample: %w", err)
	}
	fmt.Fprintf(io.Stderr, "%s: %d records, %d breaking a rule", name, cfg.Rows, len(bad))
	for i, b := range bad {
		if i == maxListed {
			fmt.Fprintf(io.Stderr, "; %d more", len(bad)-i)
			break
		}
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		where := fmt.Sprintf("line %d", b.Line)
		if b.Entry != "" {
			where = b.Entry + " " + where
		}
		fmt.Fprintf(io.Stderr, "%s%s (%s %s)", sep, where, b.Field, b.Rule)
	}
	fmt.Fprintln(io.Stderr)
	return nil
}

// isTerminal reports whether w is likely a terminal: a character device
// other than the null device (enough to spare a screen from gzip's bytes
// without a terminal library).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}
