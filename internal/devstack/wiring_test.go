package devstack

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/hemlabs/hem/internal/wiring"
)

// TestDevRunsTheProductionConfiguration: hem dev's services are built from
// wiring's defaults, as the production commands are, and differ only where
// hem dev says so.
func TestDevRunsTheProductionConfiguration(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	for _, name := range wiring.SinkNames() {
		want := wiring.DefaultProcessorConfig(name)
		want.DrainTimeout = cfg.DrainTimeout // hem dev drains its queues at Ctrl-C
		if name == "archive" {
			want.Batch.Age = ArchiveBatchAge // archived rows show up while a developer watches
		}
		if got := cfg.processorConfig(name); !reflect.DeepEqual(got, want) {
			t.Errorf("hem dev's %s processor: %+v\nproduction's, with hem dev's stated changes: %+v", name, got, want)
		}
	}
	got, want := collectorConfig("0123456789abcdef", nil), wiring.DefaultCollectorConfig()
	want.PIISalt = []byte("0123456789abcdef")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hem dev's collector: %+v\nproduction's: %+v", got, want)
	}
}

// TestAProductionDefaultChangesDev changes a default in its one place, the
// sink table, and sees hem dev follow.
func TestAProductionDefaultChangesDev(t *testing.T) {
	i := slices.IndexFunc(wiring.Sinks, func(k wiring.SinkKind) bool { return k.Name == "duckdb" })
	old := wiring.Sinks[i].Batch
	t.Cleanup(func() { wiring.Sinks[i].Batch = old })
	wiring.Sinks[i].Batch = wiring.Batch{Count: 12_345, Bytes: 3 << 20, Age: 7 * time.Second}

	cfg := Config{Dir: t.TempDir()}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.processorConfig("duckdb").Batch; got != wiring.Sinks[i].Batch {
		t.Fatalf("after the table's duckdb batch became %+v, hem dev batches %+v", wiring.Sinks[i].Batch, got)
	}
}
