// Package sample writes files for the sample sources declared in sources/
// (product-catalogue, stock-count): realistic exports, as a supplier or a
// store system would drop them, with an exact number of records that break a
// rule of the contract on purpose. "hem source sample", the tests of the
// loader and the file benchmark use them.
//
// A file is streamed to the writer record by record, never held in memory,
// and is the same for the same arguments and options.
package sample

import (
	"archive/zip"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Names lists the sample sources Write knows, as declared in sources/.
func Names() []string {
	out := make([]string, 0, len(generators))
	for name := range generators {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Invalid describes one record written to break a rule of the contract: the
// record maps fine onto the contract's message, and protovalidate rejects it.
type Invalid struct {
	// Number is the record's 0-based position in the file.
	Number int64
	// Entry is the archive entry holding it ("" outside an archive).
	Entry string
	// Line is the 1-based line it starts on (in its entry); a CSV's header is line 1.
	Line int64
	// Field is the contract's field path it breaks, e.g. "sku".
	Field string
	// Rule is protovalidate's rule id, e.g. "string.min_len".
	Rule string
}

// Option changes what Write writes.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	date         time.Time
	uncompressed bool
	revision     int
	onInvalid    func(Invalid)
}

// DefaultDate is the day a file is exported on unless WithDate says
// otherwise: fixed, so that a seed alone decides the bytes.
var DefaultDate = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// WithDate sets the day of the export: the catalogue's listing dates lie in
// the two years before it, the stock counts on it. The collector refuses
// event times older than five years or ahead of now, so a file meant for
// loading takes a recent day.
func WithDate(day time.Time) Option {
	return optionFunc(func(c *config) {
		y, m, d := day.UTC().Date()
		c.date = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	})
}

// WithoutCompression writes the records as they are (CSV, NDJSON) instead
// of compressed or packed as the source declares: for tools that read plain
// text (DuckDB's read_csv in the benchmark).
func WithoutCompression() Option {
	return optionFunc(func(c *config) { c.uncompressed = true })
}

// WithRevision writes a corrected re-export: revision r > 0 changes the
// price (product-catalogue) or the count (stock-count) of every tenth record
// (numbers 0, 10, 20, ...), and leaves every other record byte for byte as
// revision 0 writes it.
func WithRevision(r int) Option {
	return optionFunc(func(c *config) { c.revision = r })
}

// WithInvalidRecords calls f for each record written to break a rule, in
// file order.
func WithInvalidRecords(f func(Invalid)) Option {
	return optionFunc(func(c *config) { c.onInvalid = f })
}

// ErrUnknown is returned for a name that is not a sample source.
var ErrUnknown = errors.New("sample: unknown sample source")

// generator writes one sample source's file.
type generator interface {
	// entry is the archive entry name, "" when the file is not an archive.
	entry(c *config) string
	// header is written before the first record (nil for none).
	header() []byte
	// record appends record n (invalid: breaking rule kind k of kinds()).
	record(b []byte, r *rand.Rand, c *config, n int64, invalid bool, kind int) []byte
	// kinds are the (field, rule) pairs an invalid record breaks, in rotation.
	kinds() [][2]string
	// wrap compresses or packs the file as the source declares.
	wrap(w io.Writer, c *config) (io.Writer, func() error, error)
}

var generators = map[string]generator{
	"product-catalogue": catalogue{},
	"stock-count":       stockCount{},
}

// Count is the number of records of rows that Write makes invalid:
// round(invalid × rows), halves away from zero.
func Count(rows int, invalid float64) int {
	return int(math.Round(invalid * float64(rows)))
}

// Write writes the file of the sample source name to w: rows records, of
// which exactly Count(rows, invalid) break a rule of the contract, spread
// over the file (one in each of that many equal stretches). seed decides
// every value: the same arguments and options write the same bytes.
func Write(w io.Writer, name string, rows int, invalid float64, seed int64, opts ...Option) error {
	g, ok := generators[name]
	if !ok {
		return fmt.Errorf("%w %q (known: %v)", ErrUnknown, name, Names())
	}
	if rows < 0 {
		return fmt.Errorf("sample: rows %d < 0", rows)
	}
	if math.IsNaN(invalid) || invalid < 0 || invalid > 1 {
		return fmt.Errorf("sample: invalid share %v is not within 0..1", invalid)
	}
	c := &config{date: DefaultDate}
	for _, o := range opts {
		o.apply(c)
	}
	out, finish, err := g.wrap(w, c)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	if err := writeRecords(bw, g, c, rows, Count(rows, invalid), uint64(seed)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	if err := finish(); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	return nil
}

func writeRecords(w *bufio.Writer, g generator, c *config, rows, bad int, seed uint64) error {
	line := int64(1)
	if h := g.header(); h != nil {
		if _, err := w.Write(h); err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		line++
	}
	// The invalid records: one at a random place in each of bad equal
	// stretches of the file, from a stream of their own so that the
	// records' values do not depend on where they fall.
	place := rand.New(rand.NewPCG(seed, 0x5eed_1a7a11d))
	stretch := 0
	next := int64(-1)
	pick := func() {
		if stretch >= bad {
			next = -1
			return
		}
		lo := int64(stretch) * int64(rows) / int64(bad)
		hi := int64(stretch+1) * int64(rows) / int64(bad)
		next = lo + place.Int64N(hi-lo)
	}
	pick()
	kinds := g.kinds()
	entry := g.entry(c)
	// Each record draws from its own stream (seed, number), so a revision
	// changes only the records it corrects.
	pcg := rand.NewPCG(0, 0)
	r := rand.New(pcg)
	buf := make([]byte, 0, 1024)
	for n := range int64(rows) {
		pcg.Seed(seed, uint64(n))
		isBad := n == next
		kind := 0
		if isBad {
			kind = place.IntN(len(kinds))
			if c.onInvalid != nil {
				c.onInvalid(Invalid{Number: n, Entry: entry, Line: line, Field: kinds[kind][0], Rule: kinds[kind][1]})
			}
			stretch++
			pick()
		}
		buf = g.record(buf[:0], r, c, n, isBad, kind)
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		line++
	}
	return nil
}

func gzipped(w io.Writer, c *config) (io.Writer, func() error, error) {
	if c.uncompressed {
		return w, func() error { return nil }, nil
	}
	z := gzip.NewWriter(w)
	return z, z.Close, nil
}

func zipped(w io.Writer, c *config, entry string) (io.Writer, func() error, error) {
	if c.uncompressed {
		return w, func() error { return nil }, nil
	}
	z := zip.NewWriter(w)
	e, err := z.CreateHeader(&zip.FileHeader{Name: entry, Method: zip.Deflate, Modified: c.date})
	if err != nil {
		return nil, nil, fmt.Errorf("sample: %w", err)
	}
	return e, z.Close, nil
}
