package sourcebench_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/hemlabs/hem/internal/gctune"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/source/sample"
)

// BenchmarkCatalogue loads a generated product catalogue (CSV ';',
// Latin-1, uncompressed) through hem, its garbage collector set as hem
// load sets it, then, timer stopped, DuckDB's
// read_csv loads the same file. ns/op is hem's load. Metrics: records/s
// (wall), records/cpu-s (records per second of one core, the whole load),
// pass1-records/cpu-s and pass1-cpu-s (pass 1 alone: read, map, validate
// and encode every record, and seal each batch into the spill; pass 2
// hands the spill's events to the core, which publishes them in
// production), peak-RSS-MiB of hem's load, hem-cpu-s, duckdb-s,
// duckdb-cpu-s, duckdb-peak-RSS-MiB, hem/duckdb (hem's wall time over
// DuckDB's) and hem-cpu/duckdb-cpu. On a shared machine wall times swing
// with the load; CPU times much less.
func BenchmarkCatalogue(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int64
	}{{"50MB", 50 << 20}, {"1GB", 1 << 30}} {
		b.Run(size.name, func(b *testing.B) {
			path, rows := catalogueFile(b, cacheDir(), size.bytes)
			bad := int64(sample.Count(rows, benchInvalid))
			dir := b.TempDir()
			h := newHemLoader(b)
			var hem, duck usage
			var pass1 time.Duration
			for b.Loop() {
				var accepted, rejected int64
				var mark time.Duration
				// The garbage collector as hem load and hem source run set
				// it (GOGC in the environment overrides it, for a
				// comparison).
				restore := gctune.Apply(gctune.Loader(wiring.DefaultSourceConfig().SpillMaxBytes))
				u, err := measure(func() (err error) {
					accepted, rejected, mark, err = h.load(b.Context(), path)
					return err
				})
				restore()
				if err != nil {
					b.Fatal(err)
				}
				pass1 += mark - u.start
				if accepted+rejected != int64(rows) || rejected != bad {
					b.Fatalf("hem: %d accepted, %d rejected; want %d and %d", accepted, rejected, int64(rows)-bad, bad)
				}
				hem.add(u)
				b.StopTimer()
				var n int64
				u, err = measure(func() (err error) {
					n, err = duckdbLoad(b.Context(), dir, path)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				if n != int64(rows) {
					b.Fatalf("duckdb loaded %d rows, want %d", n, rows)
				}
				duck.add(u)
				b.StartTimer()
			}
			recs := float64(rows) * float64(b.N)
			b.ReportMetric(recs/hem.wall.Seconds(), "records/s")
			b.ReportMetric(recs/hem.cpu.Seconds(), "records/cpu-s")
			b.ReportMetric(recs/pass1.Seconds(), "pass1-records/cpu-s")
			b.ReportMetric(pass1.Seconds()/float64(b.N), "pass1-cpu-s")
			b.ReportMetric(float64(hem.peak)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(duck.wall.Seconds()/float64(b.N), "duckdb-s")
			b.ReportMetric(duck.cpu.Seconds()/float64(b.N), "duckdb-cpu-s")
			b.ReportMetric(hem.cpu.Seconds()/float64(b.N), "hem-cpu-s")
			b.ReportMetric(float64(duck.peak)/(1<<20), "duckdb-peak-RSS-MiB")
			b.ReportMetric(hem.wall.Seconds()/duck.wall.Seconds(), "hem/duckdb")
			b.ReportMetric(hem.cpu.Seconds()/duck.cpu.Seconds(), "hem-cpu/duckdb-cpu")
			b.Logf("%d records (%d invalid), GOMAXPROCS %d: hem %s (%.0f records/s, %.0f per cpu-s; pass 1 %.0f per cpu-s; peak RSS %d MiB), duckdb read_csv %s (%.1f cpu-s, peak RSS %d MiB)",
				rows, bad, runtime.GOMAXPROCS(0), hem.wall/time.Duration(b.N), recs/hem.wall.Seconds(), recs/hem.cpu.Seconds(), recs/pass1.Seconds(), hem.peak>>20,
				duck.wall/time.Duration(b.N), duck.cpu.Seconds()/float64(b.N), duck.peak>>20)
		})
	}
}

func (u *usage) add(v usage) {
	u.wall += v.wall
	u.cpu += v.cpu
	u.peak = max(u.peak, v.peak)
}

// TestCatalogueLoads runs the benchmark's loads on a small file, so that
// the benchmark keeps working: hem accepts and rejects what the generator
// says, DuckDB loads every line.
func TestCatalogueLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path, rows := catalogueFile(t, dir, 200<<10)
	accepted, rejected, pass1, err := newHemLoader(t).load(t.Context(), path)
	if bad := int64(sample.Count(rows, benchInvalid)); err != nil || accepted != int64(rows)-bad || rejected != bad {
		t.Fatalf("hem: %d accepted, %d rejected, %v; want %d and %d", accepted, rejected, err, int64(rows)-bad, bad)
	}
	if pass1 == 0 {
		t.Error("the benchmark did not see pass 1 end (the loader's first ledger write of the record count)")
	}
	if n, err := duckdbLoad(t.Context(), dir, path); err != nil || n != int64(rows) {
		t.Fatalf("duckdb: %d rows, %v; want %d", n, err, rows)
	}
}
