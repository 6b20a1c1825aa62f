package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry"
)

func TestRegisterSampleContractsTwiceGivesSameIDs(t *testing.T) {
	t.Parallel()
	src, err := contract.CompileDir(t.Context(), "../proto")
	if err != nil {
		t.Fatal(err)
	}
	all, err := src.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	var candidates []*contract.Schema
	for _, s := range all {
		if !registry.Reserved(s.Subject) {
			candidates = append(candidates, s)
		}
	}
	if len(candidates) < 5 {
		t.Fatalf("only %d sample events", len(candidates))
	}
	r := newRegistry(t, startGCS(t, t.TempDir()))

	first := register(t, r, candidates...)
	ids := map[int64]string{}
	for _, res := range first {
		if res.Outcome != registry.OutcomeNew || res.Schema.Version != 1 {
			t.Fatalf("%s: first push: %v v%d %v", res.Subject, res.Outcome, res.Schema.Version, res.Violations)
		}
		if prev, dup := ids[res.Schema.ID]; dup {
			t.Fatalf("id %d given to %s and %s", res.Schema.ID, prev, res.Subject)
		}
		ids[res.Schema.ID] = res.Subject
	}
	second := register(t, r, candidates...)
	for i, res := range second {
		if res.Outcome != registry.OutcomeUnchanged || res.Schema.ID != first[i].Schema.ID {
			t.Errorf("%s: second push: %v id %d, want UNCHANGED id %d", res.Subject, res.Outcome, res.Schema.ID, first[i].Schema.ID)
		}
	}
}

func TestRegisterEvolution(t *testing.T) {
	t.Parallel()
	base := ordersV1{}
	tests := []struct {
		name      string
		next      ordersV1
		outcome   registry.Outcome
		version   int
		rule      string
		newSubjet bool
	}{
		{name: "add optional field", outcome: registry.OutcomeNew, version: 2,
			next: ordersV1{fields: baseFields + "  // A note.\n  optional string note = 5;\n"}},
		{name: "change a comment", outcome: registry.OutcomeNew, version: 2,
			next: ordersV1{comment: "OrderPlaced: an order was placed, at last."}},
		{name: "unchanged", outcome: registry.OutcomeUnchanged, version: 1, next: base},
		{name: "rename field", outcome: registry.OutcomeRejected, rule: "EV-J01",
			next: ordersV1{fields: strings.Replace(baseFields, "string coupon = 3", "string coupon_code = 3", 1)}},
		{name: "retype field", outcome: registry.OutcomeRejected, rule: "EV-W06",
			next: ordersV1{fields: strings.Replace(baseFields, "int32 quantity = 2", "int64 quantity = 2", 1)}},
		{name: "delete field", outcome: registry.OutcomeRejected, rule: "EV-W04",
			next: ordersV1{fields: strings.Replace(baseFields, "string coupon = 3;", "", 1)}},
		{name: "new major", outcome: registry.OutcomeNew, version: 1, newSubjet: true,
			next: ordersV1{pkg: "acme.orders.v2", fields: strings.Replace(baseFields, "int32 quantity = 2", "int64 quantity = 2", 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t, startGCS(t, t.TempDir()))
			v1 := register(t, r, base.schema(t))[0]
			res := register(t, r, tt.next.schema(t))[0]
			if res.Outcome != tt.outcome {
				t.Fatalf("outcome %v (violations %v), want %v", res.Outcome, res.Violations, tt.outcome)
			}
			switch tt.outcome {
			case registry.OutcomeRejected:
				if !slices.Contains(rules(res.Violations), tt.rule) {
					t.Errorf("violations %v, want rule %s", res.Violations, tt.rule)
				}
				for _, v := range res.Violations {
					if v.Path == "" || v.Message == "" {
						t.Errorf("violation without path or sentence: %+v", v)
					}
				}
				if res.Schema != nil {
					t.Errorf("rejected schema got identity %d", res.Schema.ID)
				}
				vs, err := r.Versions(t.Context(), base.subject())
				if err != nil || len(vs) != 1 {
					t.Errorf("after a rejection: %d versions, %v; want 1", len(vs), err)
				}
			case registry.OutcomeNew:
				if res.Schema.Version != tt.version || res.Schema.ID <= v1.Schema.ID {
					t.Errorf("got v%d id %d, want v%d with an id above %d", res.Schema.Version, res.Schema.ID, tt.version, v1.Schema.ID)
				}
				if tt.newSubjet == (res.Subject == base.subject()) {
					t.Errorf("subject %s", res.Subject)
				}
				got, err := r.ByID(t.Context(), res.Schema.ID)
				if err != nil || got.Fingerprint() != tt.next.schema(t).Fingerprint() {
					t.Errorf("ByID(%d) = %v, %v", res.Schema.ID, got, err)
				}
			case registry.OutcomeUnchanged:
				if res.Schema.ID != v1.Schema.ID || res.Schema.Version != 1 {
					t.Errorf("got v%d id %d, want v1 id %d", res.Schema.Version, res.Schema.ID, v1.Schema.ID)
				}
			}
		})
	}
}

// A change that breaks an older version but not the latest is still
// rejected: admission is transitive.
func TestRegisterChecksEveryEarlierVersion(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	register(t, r, ordersV1{}.schema(t))
	res, err := r.Register(t.Context(), []*contract.Schema{ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t)})
	if err != nil || res[0].Outcome != registry.OutcomeNew {
		t.Fatalf("v2: %v %v", res, err)
	}
	// Deleting the field v1 had and v2 kept is caught against both.
	res, err = r.Register(t.Context(), []*contract.Schema{ordersV1{fields: strings.Replace(baseFields, "string coupon = 3;", "", 1) + "  optional string note = 5;\n"}.schema(t)})
	if err != nil || res[0].Outcome != registry.OutcomeRejected || !slices.Contains(rules(res[0].Violations), "EV-W04") {
		t.Fatalf("delete: %+v %v", res, err)
	}
}

func TestRegisterDryRunStoresNothing(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	res, err := r.Register(t.Context(), []*contract.Schema{ordersV1{}.schema(t)}, registry.DryRun())
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != registry.OutcomeNew || res[0].Schema.Version != 1 || res[0].Schema.ID != 0 {
		t.Fatalf("dry run: %v v%d id %d, want NEW v1 id 0", res[0].Outcome, res[0].Schema.Version, res[0].Schema.ID)
	}
	if subjects, err := r.Subjects(t.Context()); err != nil || len(subjects) != 0 {
		t.Fatalf("after a dry run: %v %v", subjects, err)
	}
	if _, err := r.Latest(t.Context(), ordersV1{}.subject()); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Latest after dry run: %v, want ErrNotFound", err)
	}
}

func TestRegisterRefusesBadInput(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	s := ordersV1{}.schema(t)
	for name, in := range map[string][]*contract.Schema{
		"nil":      {nil},
		"twice":    {s, s},
		"reserved": {contract.FailedEventSchema()},
	} {
		if _, err := r.Register(t.Context(), in); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestLookupsOfUnknownThingsAreNotFound(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	register(t, r, ordersV1{}.schema(t))
	ctx := t.Context()
	for name, err := range map[string]error{
		"id":      second(r.ByID(ctx, 99)),
		"version": second(r.Version(ctx, ordersV1{}.subject(), 2)),
		"subject": second(r.Latest(ctx, "acme.nope.v1.Nope")),
		"list":    second(r.Versions(ctx, "acme.nope.v1.Nope")),
	} {
		if !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// Twenty registries (as twenty replicas would) race to add twenty different
// compatible changes to one subject. Every change must land in exactly one
// version, with versions 1..21 and distinct ids.
func TestConcurrentRegistrationsLoseNothing(t *testing.T) {
	t.Parallel()
	const n = 20
	g := startGCS(t, t.TempDir())
	first := newRegistry(t, g)
	register(t, first, ordersV1{}.schema(t))

	regs := make([]*registry.Registry, n)
	changes := make([]*contract.Schema, n)
	for i := range n {
		regs[i] = newRegistry(t, g)
		changes[i] = ordersV1{comment: fmt.Sprintf("OrderPlaced: change %02d.", i)}.schema(t)
	}
	var wg sync.WaitGroup
	results := make([]registry.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			res, err := regs[i].Register(context.Background(), []*contract.Schema{changes[i]})
			if err == nil {
				results[i] = res[0]
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		if results[i].Outcome != registry.OutcomeNew {
			t.Fatalf("push %d: %v %v", i, results[i].Outcome, results[i].Violations)
		}
	}

	// A registry that took no part sees all of them.
	r := newRegistry(t, g)
	versions, err := r.Versions(t.Context(), ordersV1{}.subject())
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != n+1 {
		t.Fatalf("%d versions, want %d", len(versions), n+1)
	}
	ids := map[int64]bool{}
	for i, v := range versions {
		if v.Version != i+1 {
			t.Errorf("version %d at position %d", v.Version, i)
		}
		if ids[v.ID] {
			t.Errorf("id %d twice", v.ID)
		}
		ids[v.ID] = true
		if i > 0 && v.ID <= versions[i-1].ID {
			t.Errorf("v%d has id %d, not above v%d's %d", v.Version, v.ID, i, versions[i-1].ID)
		}
	}
	for i, c := range changes {
		var found []int
		for _, v := range versions {
			if v.Fingerprint() == c.Fingerprint() {
				found = append(found, v.Version)
			}
		}
		if len(found) != 1 || found[0] != results[i].Schema.Version {
			t.Errorf("change %d is in versions %v; its push reported v%d", i, found, results[i].Schema.Version)
		}
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g := startGCS(t, dir)
	r := newRegistry(t, g)
	v1 := register(t, r, ordersV1{}.schema(t), ordersV1{pkg: "acme.orders.v2"}.schema(t))
	v2 := register(t, r, ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t))
	g.srv.Stop()

	r2 := newRegistry(t, startGCS(t, dir))
	subjects, err := r2.Subjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(subjects); !strings.Contains(got, "acme.orders.v1.OrderPlaced") || !strings.Contains(got, "acme.orders.v2.OrderPlaced") || len(subjects) != 2 {
		t.Fatalf("subjects after restart: %v", subjects)
	}
	for _, want := range append(v1, v2...) {
		got, err := r2.ByID(t.Context(), want.Schema.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != want.Subject || got.Version != want.Schema.Version || got.Fingerprint() != want.Schema.Fingerprint() || got.State != contract.Usable {
			t.Errorf("id %d after restart: %s v%d %s, want %s v%d", want.Schema.ID, got.Subject, got.Version, got.State, want.Subject, want.Schema.Version)
		}
	}
	// Pushing again is idempotent, and ids keep growing.
	again := register(t, r2, ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t))
	if again[0].Outcome != registry.OutcomeUnchanged || again[0].Schema.ID != v2[0].Schema.ID {
		t.Errorf("re-push after restart: %v id %d", again[0].Outcome, again[0].Schema.ID)
	}
	v3 := register(t, r2, ordersV1{fields: baseFields + "  optional string note = 5;\n  optional string gift = 6;\n"}.schema(t))
	if v3[0].Schema.Version != 3 || v3[0].Schema.ID <= v2[0].Schema.ID {
		t.Errorf("after restart: v%d id %d", v3[0].Schema.Version, v3[0].Schema.ID)
	}
}

// flakyMigrator fails while failing is set and records what it migrated.
type flakyMigrator struct {
	mu       sync.Mutex
	failing  bool
	migrated []int64
}

func (m *flakyMigrator) Migrate(_ context.Context, s *contract.Schema) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.State != contract.Pending {
		return fmt.Errorf("migrating a %s version", s.State)
	}
	if m.failing {
		return errors.New("warehouse unavailable")
	}
	m.migrated = append(m.migrated, s.ID)
	return nil
}

func TestMigrationGatesUsability(t *testing.T) {
	t.Parallel()
	m := &flakyMigrator{}
	r := newRegistry(t, startGCS(t, t.TempDir()), registry.WithMigrator(m))
	v1 := register(t, r, ordersV1{}.schema(t))[0]
	if v1.Schema.State != contract.Usable || !slices.Equal(m.migrated, []int64{v1.Schema.ID}) {
		t.Fatalf("v1: %s, migrated %v", v1.Schema.State, m.migrated)
	}

	m.failing = true
	v2schema := ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t)
	res, err := r.Register(t.Context(), []*contract.Schema{v2schema})
	var merr *registry.MigrationError
	if !errors.As(err, &merr) || merr.Subject != v2schema.Subject || res[0].Err == nil {
		t.Fatalf("failing migration: err %v, result %+v", err, res)
	}
	if res[0].Outcome != registry.OutcomeNew || res[0].Schema.State != contract.Pending || res[0].Schema.Version != 2 {
		t.Fatalf("failing migration: %v v%d %s", res[0].Outcome, res[0].Schema.Version, res[0].Schema.State)
	}
	latest, err := r.Latest(t.Context(), v2schema.Subject)
	if err != nil || latest.Version != 1 {
		t.Fatalf("Latest while v2 is pending: %v, %v; want v1", latest, err)
	}
	if got, err := r.Version(t.Context(), v2schema.Subject, 2); err != nil || got.State != contract.Pending {
		t.Fatalf("v2 while pending: %v %v", got, err)
	}

	// The same push again retries the migration.
	m.failing = false
	res, err = r.Register(t.Context(), []*contract.Schema{v2schema})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != registry.OutcomeUnchanged || res[0].Schema.ID != v1.Schema.ID+1 || res[0].Schema.State != contract.Usable {
		t.Fatalf("retry: %v id %d %s", res[0].Outcome, res[0].Schema.ID, res[0].Schema.State)
	}
	if latest, err := r.Latest(t.Context(), v2schema.Subject); err != nil || latest.Version != 2 {
		t.Fatalf("Latest after the retry: %v, %v; want v2", latest, err)
	}
	// Once usable, pushing again migrates nothing.
	register(t, r, v2schema)
	if len(m.migrated) != 2 {
		t.Errorf("migrated %v, want two versions once each", m.migrated)
	}
}

var _ registry.Migrator = (*flakyMigrator)(nil)

func TestWatchSeesVersionsAsTheyBecomeUsable(t *testing.T) {
	t.Parallel()
	g := startGCS(t, t.TempDir())
	writer := newRegistry(t, g)
	v1 := register(t, writer, ordersV1{}.schema(t))[0]
	// The watcher is another replica: it learns of writes by re-reading.
	watcher := newRegistry(t, g, registry.WithRefreshInterval(20*1e6))

	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan *contract.Schema, 10)
	done := make(chan error, 1)
	go func() {
		done <- watcher.Watch(ctx, 0, func(s *contract.Schema) error { got <- s; return nil })
	}()
	if s := <-got; s.ID != v1.Schema.ID {
		t.Fatalf("first watched id %d, want %d", s.ID, v1.Schema.ID)
	}
	v2 := register(t, writer, ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t))[0]
	if s := <-got; s.ID != v2.Schema.ID || s.Version != 2 || s.State != contract.Usable {
		t.Fatalf("watched %d v%d %s, want id %d v2", s.ID, s.Version, s.State, v2.Schema.ID)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v on cancel, want nil", err)
	}
}

// Pushing the contract of an older version again (a rolled-back branch,
// say) returns that version: versions are found by fingerprint, and nothing
// new is stored.
func TestRegisterOlderVersionAgainReturnsIt(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	v1 := register(t, r, ordersV1{}.schema(t))[0]
	register(t, r, ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t))
	again := register(t, r, ordersV1{}.schema(t))[0]
	if again.Outcome != registry.OutcomeUnchanged || again.Schema.ID != v1.Schema.ID || again.Schema.Version != 1 {
		t.Fatalf("v1 again: %v v%d id %d", again.Outcome, again.Schema.Version, again.Schema.ID)
	}
	if latest, err := r.Latest(t.Context(), v1.Subject); err != nil || latest.Version != 2 {
		t.Fatalf("Latest: %v %v, want v2", latest, err)
	}
}
