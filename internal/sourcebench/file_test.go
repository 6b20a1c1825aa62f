package sourcebench_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hemlabs/hem/source/sample"
)

// benchInvalid is the share of the catalogue's records that break a rule:
// a realistic few, below the source's max_rejected_share (5 %).
const benchInvalid = 0.01

// cacheDir is where the benchmark's files are kept between runs.
func cacheDir() string {
	if dir := os.Getenv("HEM_SOURCEBENCH_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "hem-sourcebench")
}

// catalogueFile returns an uncompressed product-catalogue CSV of about size
// bytes in dir, generated once per day and size (its dates must stay within
// the collector's event-time window), and its records.
func catalogueFile(b testing.TB, dir string, size int64) (path string, rows int) {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	day := time.Now().UTC().AddDate(0, 0, -1)
	opts := []sample.Option{sample.WithDate(day), sample.WithoutCompression()}
	// Records of about size bytes, from the mean length of 10,000.
	var n countWriter
	if err := sample.Write(&n, "product-catalogue", 10_000, benchInvalid, 1, opts...); err != nil {
		b.Fatal(err)
	}
	rows = int(size * 10_000 / int64(n))
	path = filepath.Join(dir, fmt.Sprintf("product-catalogue-%d-%s.csv", rows, day.Format("20060102")))
	if _, err := os.Stat(path); err == nil {
		return path, rows
	}
	old, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("product-catalogue-%d-*.csv", rows)))
	for _, o := range old {
		_ = os.Remove(o)
	}
	b.Logf("generating %s (%d records)", path, rows)
	f, err := os.CreateTemp(dir, ".gen-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	if err := sample.Write(f, "product-catalogue", rows, benchInvalid, 1, opts...); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		b.Fatal(err)
	}
	return path, rows
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
