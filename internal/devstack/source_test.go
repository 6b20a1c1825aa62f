package devstack_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"

	"cloud.google.com/go/storage"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/source/ledger"
	"github.com/hemlabs/hem/source/sample"
	"google.golang.org/api/option"
)

// catalogueFile is the product-catalogue sample export (hem source
// sample product-catalogue): rows lines, bad of them breaking a rule of
// the contract.
func catalogueFile(t *testing.T, rows int, invalid float64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := sample.Write(&b, "product-catalogue", rows, invalid, 1); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestInboxLoadsOnceThroughNotifications is the tour: a file dropped into
// the inbox becomes rows, its bad lines rows of _failed_events, and the
// same file dropped again (a new generation of the same object) changes
// nothing.
func TestInboxLoadsOnceThroughNotifications(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := startWith(t, devstack.Config{Dir: dir, ProtoDir: "../../proto", SourcesDir: "../../sources", InboxStableFor: 100 * time.Millisecond})
	if st.SourcesErr != nil || len(st.Sources) < 1 {
		t.Fatalf("sources %v: %v", st.Sources, st.SourcesErr)
	}
	inbox := filepath.Join(devstack.InboxDir(dir), "product-catalogue")
	if _, err := os.Stat(filepath.Join(inbox, ".done")); err != nil {
		t.Fatalf("the inbox of product-catalogue was not created: %v", err)
	}

	// 3 bad lines of 400: under the declaration's 5 %, so the file loads.
	const rows, invalid = 400, 0.0075
	bad := sample.Count(rows, invalid)
	file := catalogueFile(t, rows, invalid)
	drop := func(round int) {
		t.Helper()
		// Written under a dot name and renamed, as a careful copy does; the
		// inbox also waits for the size to settle for a plain one.
		tmp := filepath.Join(inbox, ".day1.csv.gz.part")
		if err := os.WriteFile(tmp, file, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, "day1.csv.gz")); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, fmt.Sprintf("load %d", round), func() bool { return st.SourceStats().Loaded == int64(round) })
		if _, err := os.Stat(filepath.Join(inbox, ".done", "day1.csv.gz")); err != nil {
			t.Fatalf("round %d: the file was not moved to .done: %v", round, err)
		}
		if _, err := os.Stat(filepath.Join(inbox, "day1.csv.gz")); !os.IsNotExist(err) {
			t.Fatalf("round %d: the file is still in the inbox (%v)", round, err)
		}
	}

	// A file whose object name the pattern (catalogue/*.csv.gz) would not
	// take stays in the inbox: uploaded, nothing would load it.
	stray := filepath.Join(inbox, "notes.txt")
	if err := os.WriteFile(stray, []byte("not an export"), 0o644); err != nil {
		t.Fatal(err)
	}

	drop(1)
	waitUntil(t, 30*time.Second, "rows in the warehouse", func() bool {
		events, failed := productRows(t, st)
		return events == rows-bad && failed == bad
	})
	failedRows := sql(t, st, `select count(*) from _failed_events where origin.source = 'product-catalogue' and origin.line > 0 and origin.uri like 'gs://hem-landing/catalogue/day1.csv.gz'`)
	if n := int(failedRows[0][0].(float64)); n != bad {
		t.Errorf("%d failed events name the object and a line, want %d", n, bad)
	}

	drop(2)
	// Give the processors time to write anything the second load added.
	time.Sleep(3 * time.Second)
	if events, failed := productRows(t, st); events != rows-bad || failed != bad {
		t.Fatalf("after dropping the same file again: %d rows and %d failed events, want %d and %d", events, failed, rows-bad, bad)
	}
	if s := st.SourceStats(); s.Loaded != 2 || s.Failed != 0 || s.Quarantined != 0 || s.Ignored != 0 {
		t.Errorf("source stats %+v", s)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Errorf("a file the pattern does not take left the inbox: %v", err)
	}
}

func productRows(t *testing.T, st *devstack.Stack) (events, failed int) {
	t.Helper()
	if len(sql(t, st, "select table_name from information_schema.tables where table_name = 'shop_products_v1_product_created'")) == 1 {
		events = int(sql(t, st, "select count(*) from shop_products_v1_product_created")[0][0].(float64))
	}
	if len(sql(t, st, "select table_name from information_schema.tables where table_name = '_failed_events'")) == 1 {
		failed = int(sql(t, st, "select count(*) from _failed_events")[0][0].(float64))
	}
	return events, failed
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartResumesWhatTheKilledRunHeld: a load hem dev held when it was
// killed is taken over as soon as hem dev starts again, not a lease later.
func TestRestartResumesWhatTheKilledRunHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := devstack.Config{Dir: dir, ProtoDir: "../../proto", SourcesDir: "../../sources", Sinks: []string{"duckdb"}}
	entry := &sourcev1.LedgerEntry{Source: "product-catalogue", Uri: "gs://hem-landing/catalogue/cut.csv.gz", Generation: 1}
	ledgerOf := func(st *devstack.Stack) *ledger.Ledger {
		gcs, err := storage.NewClient(t.Context(), option.WithEndpoint("http://"+st.GCSAddr+"/storage/v1/"), option.WithoutAuthentication(), storage.WithJSONReads())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gcs.Close() })
		return ledger.New(gcs.Bucket(wiring.DevLedgerBucket), wiring.LedgerPrefix)
	}

	first := startWith(t, cfg)
	// What the killed run left: a load it held, with an hour of lease.
	if _, claimed, err := ledgerOf(first).Claim(t.Context(), entry, "hem-dev:"+dir, time.Hour); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := first.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	again := startWith(t, cfg)
	got, claimed, err := ledgerOf(again).Claim(t.Context(), entry, "hem source run", time.Minute)
	if err != nil || !claimed || got.GetAttempts() != 2 {
		t.Fatalf("after the restart the load is not free to resume: claimed %v attempts %d, %v", claimed, got.GetAttempts(), err)
	}
}
