package wiring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"

	"github.com/hemlabs/hem/fieldcrypt"
	bqsink "github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

const keysProject = "hem-test"

// newKeysMirror is the keys table on a fake BigQuery as a mirror.
func newKeysMirror(t *testing.T) (keysTableMirror, *bigquerytest.Server) {
	t.Helper()
	ctx := t.Context()
	srv, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := bq.NewClient(ctx, keysProject, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Dataset("hem_keys").Create(ctx, &bq.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Dataset("hem_keys").Table("field_keys").Create(ctx, &bq.TableMetadata{Schema: bqsink.KeysSchema()}); err != nil {
		t.Fatal(err)
	}
	kt, err := bqsink.NewKeysTable(c, keysProject+".hem_keys.field_keys")
	if err != nil {
		t.Fatal(err)
	}
	return keysTableMirror{kt}, srv
}

// keyRows is the keys table's wrapped keysets by object.
func keyRows(t *testing.T, srv *bigquerytest.Server) map[string][]byte {
	t.Helper()
	rows, err := srv.Rows(keysProject, "hem_keys", "field_keys")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(rows))
	for _, r := range rows {
		o := r["object"].(string)
		if _, dup := out[o]; dup {
			t.Errorf("two rows of %s", o)
		}
		out[o] = r["wrapped_keyset"].([]byte)
	}
	return out
}

// memStore is a fieldcrypt.Store in memory (a DirStore syncs each file
// it creates: seconds for thousands).
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
}

var _ fieldcrypt.Store = (*memStore)(nil)

func (s *memStore) Get(_ context.Context, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", fieldcrypt.ErrNotFound, name)
	}
	return b, nil
}

func (s *memStore) Create(_ context.Context, name string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[name]; ok {
		return fmt.Errorf("%w: %s", fieldcrypt.ErrExists, name)
	}
	s.objects[name] = slices.Clone(data)
	return nil
}

func (s *memStore) Delete(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, name)
	return nil
}

func (s *memStore) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for o := range s.objects {
		if strings.HasPrefix(o, prefix) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out, nil
}

// memberKeyset is member i's keyset of kind, as the store holds it (Sync
// copies it without unwrapping, so any bytes do).
func memberKeyset(prefix string, i int, kind fieldcrypt.Kind) fieldcrypt.Keyset {
	n := fieldcrypt.Name{Type: "shop.members.v1.MemberProfileUpdated", Kind: kind, SubjectField: "member_id", Subject: fmt.Sprintf("%s-%d", prefix, i)}
	return fieldcrypt.Keyset{Name: n, Object: n.Object(), Wrapped: []byte("wrapped " + n.Object()), CreatedAt: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
}

// TestKeysSyncBatches: hem keys sync over a store of 2,000 keysets (1,000
// members) and 50 erased members, with a keys table holding 500 of the
// keysets and 100 rows of the erased members, reads the table once, puts
// the 1,500 missing keysets in two INSERT jobs and deletes the 100 rows in
// one DELETE: four jobs where one per keyset and per erased member took
// 2,050. The table is then exactly the store's keysets; a second sync is
// one job that changes nothing.
func TestKeysSyncBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m, srv := newKeysMirror(t)
	dir := t.TempDir()
	kek, err := fieldcrypt.LocalKEK(filepath.Join(dir, "master.json"))
	if err != nil {
		t.Fatal(err)
	}
	store := &memStore{objects: map[string][]byte{}}
	var stored, stale []fieldcrypt.Keyset
	for i := range 1000 {
		for _, kind := range []fieldcrypt.Kind{fieldcrypt.AEAD, fieldcrypt.Deterministic} {
			k := memberKeyset("m", i, kind)
			if err := store.Create(ctx, k.Object, k.Wrapped); err != nil {
				t.Fatal(err)
			}
			stored = append(stored, k)
		}
	}
	eraser, err := fieldcrypt.NewKeyring(store, kek)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := eraser.EraseSubject(ctx, "member_id", fmt.Sprintf("e-%d", i)); err != nil {
			t.Fatal(err)
		}
		// Copies a collector was still writing when the erasure ran.
		stale = append(stale, memberKeyset("e", i, fieldcrypt.AEAD), memberKeyset("e", i, fieldcrypt.Deterministic))
	}
	if n, err := m.Put(ctx, append(slices.Clone(stored[:500]), stale...)); err != nil || n != 600 {
		t.Fatalf("table before the sync: %d rows, %v", n, err)
	}

	syncer, err := fieldcrypt.NewKeyring(store, kek, fieldcrypt.WithMirror(m, nil))
	if err != nil {
		t.Fatal(err)
	}
	before := srv.JobsRequested()
	rep, err := syncer.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (fieldcrypt.SyncReport{Keysets: 2000, Held: 600, Put: 1500, Erased: 50, Deleted: 100}); rep != want {
		t.Errorf("Sync: %+v, want %+v", rep, want)
	}
	if j := srv.JobsRequested() - before; j != 4 {
		t.Errorf("Sync ran %d BigQuery jobs, want 4 (read the objects, two INSERTs, one DELETE)", j)
	}
	got := keyRows(t, srv)
	if len(got) != len(stored) {
		t.Errorf("keys table: %d rows, want the store's %d keysets", len(got), len(stored))
	}
	for _, k := range stored {
		if !bytes.Equal(got[k.Object], k.Wrapped) {
			t.Fatalf("keys table row of %s: %q, want the store's keyset", k.Object, got[k.Object])
		}
	}

	before = srv.JobsRequested()
	if rep, err := syncer.Sync(ctx); err != nil || rep != (fieldcrypt.SyncReport{Keysets: 2000, Held: 2000, Erased: 50}) {
		t.Errorf("second Sync: %+v %v, want nothing to do", rep, err)
	}
	if j := srv.JobsRequested() - before; j != 1 {
		t.Errorf("second Sync ran %d jobs, want 1 (the read)", j)
	}
}

// gatedMirror holds its first Put until open is closed.
type gatedMirror struct {
	fieldcrypt.Mirror
	open chan struct{}
}

func (g gatedMirror) Put(ctx context.Context, ks []fieldcrypt.Keyset) (int64, error) {
	<-g.open
	return g.Mirror.Put(ctx, ks)
}

// TestQueuedMirrorBurst: a burst of 5,000 new keysets (and 500 of them
// queued again) reaches the keys table in at most seven INSERT jobs, one at
// a time, each taking what was queued meanwhile (up to 1,000); no Put
// fails and no row is written twice, also for the 300 keysets the table
// already held.
func TestQueuedMirrorBurst(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m, srv := newKeysMirror(t)
	burst := make([]fieldcrypt.Keyset, 5000)
	for i := range burst {
		burst[i] = memberKeyset("m", i/2, fieldcrypt.Kind(i%2+1))
	}
	if _, err := m.Put(ctx, burst[1000:1300]); err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int64
	open := make(chan struct{})
	q := newQueuedMirror(gatedMirror{m, open}, func(fieldcrypt.Keyset, error) { failed.Add(1) })
	before := srv.JobsRequested()
	for _, k := range append(burst, burst[:500]...) {
		if _, err := q.Put(ctx, []fieldcrypt.Keyset{k}); err != nil {
			t.Fatalf("put %s: %v", k.Object, err)
		}
	}
	// The first job started with what was queued by then. close waits at
	// most 10 seconds, a loaded machine may take longer: wait for the end.
	close(open)
	_ = q.close()
	<-q.done
	t.Logf("5,500 keysets queued: %d INSERT jobs", srv.JobsRequested()-before)
	if j := srv.JobsRequested() - before; j > 7 {
		t.Errorf("5,500 keysets took %d jobs, want at most 7 (the first, then 1,000 a job)", j)
	}
	if got := keyRows(t, srv); len(got) != len(burst) || failed.Load() != 0 {
		t.Errorf("keys table: %d rows, %d failed; want %d rows", len(got), failed.Load(), len(burst))
	}
}

// failingMirror fails every Put.
type failingMirror struct {
	fieldcrypt.Mirror
	mu    sync.Mutex
	calls int
}

func (f *failingMirror) Put(context.Context, []fieldcrypt.Keyset) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return 0, errors.New("keys table down")
}

// TestQueuedMirrorFailure: a failed job reports each of its keysets to
// onError, and the keysets' Puts had succeeded (the events went on).
func TestQueuedMirrorFailure(t *testing.T) {
	t.Parallel()
	f := &failingMirror{}
	var mu sync.Mutex
	var failed []string
	q := newQueuedMirror(f, func(k fieldcrypt.Keyset, _ error) { mu.Lock(); failed = append(failed, k.Object); mu.Unlock() })
	var want []string
	for i := range 3 {
		k := memberKeyset("m", i, fieldcrypt.AEAD)
		want = append(want, k.Object)
		if _, err := q.Put(t.Context(), []fieldcrypt.Keyset{k}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(failed, want) {
		t.Errorf("onError heard of %v, want %v", failed, want)
	}
	if _, err := q.Put(t.Context(), []fieldcrypt.Keyset{memberKeyset("m", 9, fieldcrypt.AEAD)}); err == nil {
		t.Error("a closed queue took a keyset")
	}
}
