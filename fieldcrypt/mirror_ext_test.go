package fieldcrypt_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/hemlabs/hem/fieldcrypt"
)

// memMirror is a Mirror in memory, failing its puts while fail is set;
// calls counts its calls.
type memMirror struct {
	mu    sync.Mutex
	rows  map[string]fieldcrypt.Keyset
	fail  bool
	calls int
	puts  [][]string // the objects of each Put
}

func (m *memMirror) Put(_ context.Context, ks []fieldcrypt.Keyset) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	var objs []string
	for _, k := range ks {
		objs = append(objs, k.Object)
	}
	m.puts = append(m.puts, objs)
	if m.fail {
		return 0, errors.New("mirror down")
	}
	var n int64
	for _, k := range ks {
		if _, ok := m.rows[k.Object]; !ok {
			m.rows[k.Object] = k
			n++
		}
	}
	return n, nil
}

func (m *memMirror) Objects(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	return slices.Collect(maps.Keys(m.rows)), nil
}

func (m *memMirror) Delete(_ context.Context, objects []string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	var n int64
	for _, o := range objects {
		if _, ok := m.rows[o]; ok {
			delete(m.rows, o)
			n++
		}
	}
	return n, nil
}

func (m *memMirror) DeleteSubject(_ context.Context, field, value string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	var n int64
	for o, k := range m.rows {
		if k.Name.SubjectField == field && k.Name.Subject == value {
			delete(m.rows, o)
			n++
		}
	}
	return n, nil
}

func (m *memMirror) objects() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.rows))
}

// TestMirror: a created keyset reaches the mirror; one whose put failed
// is still used, and Sync puts it; an erasure deletes the subject's rows.
func TestMirror(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := &memMirror{rows: map[string]fieldcrypt.Keyset{}}
	var failed []string
	kr, store, kek := newKeyring(t, fieldcrypt.WithCreate(), fieldcrypt.WithMirror(m, func(k fieldcrypt.Keyset, _ error) { failed = append(failed, k.Object) }))
	n1 := fieldcrypt.Name{Type: typ, Kind: fieldcrypt.AEAD, SubjectField: "member_id", Subject: "m-1"}
	n2 := fieldcrypt.Name{Type: typ, Kind: fieldcrypt.Deterministic}
	if _, err := kr.AEAD(ctx, n1); err != nil {
		t.Fatal(err)
	}
	m.fail = true
	if _, err := kr.Deterministic(ctx, n2); err != nil {
		t.Fatalf("a mirror failure failed the key: %v", err)
	}
	m.fail = false
	if got := m.objects(); !slices.Equal(got, []string{n1.Object()}) || !slices.Equal(failed, []string{n2.Object()}) {
		t.Fatalf("mirror %v, failed %v", got, failed)
	}
	if w, _ := store.Get(ctx, n1.Object()); string(m.rows[n1.Object()].Wrapped) != string(w) || m.rows[n1.Object()].Name != n1 {
		t.Errorf("mirrored row differs from the store's keyset")
	}
	// A reader with the same mirror puts nothing; Sync repairs.
	reader, err := fieldcrypt.NewKeyring(store, kek, fieldcrypt.WithMirror(m, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Deterministic(ctx, n2); err != nil || len(m.objects()) != 1 {
		t.Fatalf("reader: %v, mirror %v", err, m.objects())
	}
	if rep, err := reader.Sync(ctx); err != nil || rep != (fieldcrypt.SyncReport{Keysets: 2, Held: 1, Put: 1}) {
		t.Fatalf("Sync: %+v %v", rep, err)
	}
	if got := m.objects(); len(got) != 2 {
		t.Fatalf("mirror after sync: %v", got)
	}
	er, err := reader.EraseSubject(ctx, "member_id", "m-1")
	if err != nil || er.MirrorDeleted != 1 {
		t.Fatalf("erase: %+v %v", er, err)
	}
	if got := m.objects(); !slices.Equal(got, []string{n2.Object()}) {
		t.Errorf("mirror after erase: %v", got)
	}
	// A copy put after the erasure (a collector's write in flight) is
	// deleted by Sync, which puts nothing of the erased subject.
	if _, err := m.Put(ctx, []fieldcrypt.Keyset{{Name: n1, Object: n1.Object(), Wrapped: []byte{1}}}); err != nil {
		t.Fatal(err)
	}
	if rep, err := reader.Sync(ctx); err != nil || rep.Put != 0 || rep.Deleted != 1 || rep.Erased != 1 {
		t.Errorf("Sync after erase: %+v, %v; want nothing put (the mirror holds the kept keyset) and 1 deleted", rep, err)
	}
	if got := m.objects(); !slices.Equal(got, []string{n2.Object()}) {
		t.Errorf("mirror after sync: %v", got)
	}
}

// TestSyncCalls: Sync asks the mirror for its objects once and puts what
// it lacks in one call, event types' keysets first; it puts no keyset of
// an erased subject (one a collector created as the erasure ran), and
// calls no Delete when the mirror holds nothing erased.
func TestSyncCalls(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	collector, store, kek := newKeyring(t, fieldcrypt.WithCreate())
	var want []string
	for _, s := range []string{"m-1", "m-2", "m-3"} {
		n := fieldcrypt.Name{Type: typ, Kind: fieldcrypt.AEAD, SubjectField: "member_id", Subject: s}
		if _, err := collector.AEAD(ctx, n); err != nil {
			t.Fatal(err)
		}
		want = append(want, n.Object())
	}
	tn := fieldcrypt.Name{Type: typ, Kind: fieldcrypt.Deterministic}
	if _, err := collector.Deterministic(ctx, tn); err != nil {
		t.Fatal(err)
	}
	want = append([]string{tn.Object()}, want...)
	late := fieldcrypt.Name{Type: typ, Kind: fieldcrypt.AEAD, SubjectField: "member_id", Subject: "m-9"}
	if _, err := collector.EraseSubject(ctx, "member_id", "m-9"); err != nil {
		t.Fatal(err)
	}
	if err := store.Create(ctx, late.Object(), []byte{1}); err != nil {
		t.Fatal(err)
	}
	m := &memMirror{rows: map[string]fieldcrypt.Keyset{}}
	syncer, err := fieldcrypt.NewKeyring(store, kek, fieldcrypt.WithMirror(m, nil))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := syncer.Sync(ctx)
	if err != nil || rep != (fieldcrypt.SyncReport{Keysets: 5, Put: 4, Erased: 1}) {
		t.Fatalf("Sync: %+v %v", rep, err)
	}
	if m.calls != 2 || len(m.puts) != 1 || !slices.Equal(m.puts[0], want) {
		t.Errorf("Sync made %d mirror calls, put %v; want 2 calls (Objects, Put) putting %v", m.calls, m.puts, want)
	}
}

func TestParseObject(t *testing.T) {
	t.Parallel()
	for _, n := range []fieldcrypt.Name{
		{Type: typ, Kind: fieldcrypt.AEAD},
		{Type: typ, Kind: fieldcrypt.Deterministic, SubjectField: "member_id", Subject: "m/42 é"},
	} {
		if got, ok := fieldcrypt.ParseObject(n.Object()); !ok || got != n {
			t.Errorf("ParseObject(%q) = %v %v, want %v", n.Object(), got, ok, n)
		}
	}
	for _, o := range []string{"subject/member_id/6d2d31/erased", "audit/erasures/x.json", "type/a.B/other", "subject/member_id/zz/a.B/aead", "type/a..B/aead"} {
		if n, ok := fieldcrypt.ParseObject(o); ok {
			t.Errorf("ParseObject(%q) = %v", o, n)
		}
	}
}

// FuzzParseObject: whatever a store lists, ParseObject either refuses it
// or returns the one Name whose object it is.
func FuzzParseObject(f *testing.F) {
	f.Add("type/shop.a.v1.A/aead")
	f.Add("subject/member_id/6d2d31/shop.a.v1.A/daead")
	f.Add("subject/member_id/6d2d31/erased")
	f.Add("audit/erasures/20261207T100000.000000000Z-0011223344556677.json")
	f.Fuzz(func(t *testing.T, o string) {
		n, ok := fieldcrypt.ParseObject(o)
		if ok && n.Object() != o {
			t.Errorf("ParseObject(%q) = %v, whose object is %q", o, n, n.Object())
		}
	})
}
