//go:build linux

package duckdb_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
)

// failWritesBeyond makes every file write past limit bytes fail (EFBIG,
// as a full disk fails it with ENOSPC) until the returned func restores
// the limit. The limit is the process's, so the caller must not run in
// parallel with other tests.
func failWritesBeyond(t *testing.T, limit uint64) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("no file size limit here: %v", err)
	}
	signal.Ignore(syscall.SIGXFSZ) // the write fails instead of killing the process
	lim := old
	lim.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("cannot lower the file size limit: %v", err)
	}
	done := false
	restore = func() {
		if !done {
			done = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
			signal.Reset(syscall.SIGXFSZ)
		}
	}
	t.Cleanup(restore)
	return restore
}

// A failed commit (here: the write-ahead log cannot grow, as on a full
// disk) must leave the warehouse able to store the same rows when the
// batch is retried, once, also after a restart. The batch goes straight
// in, or, when it redelivers ids already stored, through the staging
// table.
//
//nolint:paralleltest // it lowers the process's file size limit
func TestRetryAfterFailedCommitStoresTheRows(t *testing.T) {
	for _, tc := range []struct {
		name        string
		redelivered int // ids of the failing batch that are already stored
	}{
		{"new rows", 0},
		{"new and redelivered rows", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			placed := contracts(t)["shop.orders.v1.OrderPlaced"]
			path := filepath.Join(t.TempDir(), "w.duckdb")
			w, err := duckdb.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = w.Close(context.Background()) }()
			write := func(evs []*sink.Event) error {
				return w.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: evs})
			}
			// Enough rows that DuckDB 1.4.5's index keeps some of the
			// failed commit's keys (with a few hundred it happens not to).
			var stored []*sink.Event
			for i := range 10 {
				evs := events(t, placed, 500, fmt.Sprintf("a%d", i))
				if err := write(evs); err != nil {
					t.Fatal(err)
				}
				stored = append(stored, evs...)
			}
			wal, err := os.Stat(path + ".wal")
			if err != nil {
				t.Fatal(err)
			}
			b := append(stored[:tc.redelivered:tc.redelivered], events(t, placed, 200, "b")...)
			restore := failWritesBeyond(t, uint64(wal.Size())+4096)
			err = write(b)
			restore()
			if err == nil {
				t.Fatal("the write with a log that cannot grow succeeded; the fault was not injected")
			}
			t.Logf("injected: %v", err)
			for attempt := range 3 { // the retry, then redeliveries
				if err := write(b); err != nil {
					t.Fatalf("attempt %d after the disk has room again: %v", attempt+1, err)
				}
			}
			check := func(when string) {
				t.Helper()
				got := query(t, w, "select count(*), count(distinct _event_id), count(*) filter (where _event_id like 'b-%') from shop_orders_v1_order_placed")[0]
				if fmt.Sprint(got) != "[5200 5200 200]" {
					t.Fatalf("%s: rows, distinct ids, rows of the retried batch = %v, want 5200 5200 200", when, got)
				}
			}
			check("after the retry")
			if err := w.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if w, err = duckdb.Open(t.Context(), path); err != nil {
				t.Fatal(err)
			}
			if err := write(b); err != nil {
				t.Fatalf("redelivery after a restart: %v", err)
			}
			check("after a restart")
		})
	}
}

// The same on a real full disk: HEM_DUCKDB_SMALL_DISK names an empty
// folder on a small file system (as root: mount -t tmpfs -o size=20m
// tmpfs DIR). A file fills it but for a few MB, batches go in until one
// fails for want of space, the file goes, and the failed batch is retried.
//
//nolint:paralleltest // it fills a file system
func TestRetryAfterDiskFullStoresTheRows(t *testing.T) {
	dir := os.Getenv("HEM_DUCKDB_SMALL_DISK")
	if dir == "" {
		t.Skip("HEM_DUCKDB_SMALL_DISK is not set")
	}
	placed := contracts(t)["shop.orders.v1.OrderPlaced"]
	path := filepath.Join(dir, "w.duckdb")
	w, err := duckdb.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close(context.Background()) }()
	t.Cleanup(func() { _ = os.Remove(path); _ = os.Remove(path + ".wal") })
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 1<<20); err == nil; _, err = f.Write(chunk) {
	}
	_ = f.Close()
	t.Cleanup(func() { _ = os.Remove(filler) })
	if st, err := os.Stat(filler); err != nil || os.Truncate(filler, st.Size()-6<<20) != nil {
		t.Fatalf("cannot leave room: %v", err)
	}
	write := func(evs []*sink.Event) error {
		return w.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: evs})
	}
	var failed []*sink.Event
	stored := 0
	for i := 0; failed == nil; i++ {
		evs := events(t, placed, 500, fmt.Sprintf("a%d", i))
		if err := write(evs); err != nil {
			t.Logf("after %d rows: %v", stored, err)
			failed = evs
			break
		}
		stored += len(evs)
		if i == 1000 {
			t.Fatal("the disk never filled")
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for attempt := range 3 {
		if err := write(failed); err != nil {
			t.Fatalf("attempt %d after the disk has room again: %v", attempt+1, err)
		}
	}
	want := fmt.Sprint([]any{int64(stored + len(failed)), int64(stored + len(failed))})
	if got := fmt.Sprint(query(t, w, "select count(*), count(distinct _event_id) from shop_orders_v1_order_placed")[0]); got != want {
		t.Fatalf("rows, distinct ids = %v, want %v", got, want)
	}
}
