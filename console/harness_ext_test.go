package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
)

// harness is the pipeline a console reads, in-process: a real collector
// (collectortest) whose accepted and rejected events drain into a real
// DuckDB warehouse, as the processors of hem dev would write them.
type harness struct {
	st        *collectortest.Stack
	wh        *duckdb.Warehouse
	registry  *fakeRegistry
	warehouse console.Warehouse
	resender  *inProcessResender

	// archive, when set, gets the accepted events too (the archive sink).
	archive sink.Sink

	mu      sync.Mutex
	drained map[string]bool // Pub/Sub message ids written already
}

func newHarness(t testing.TB, opts ...collector.Option) *harness {
	t.Helper()
	st, err := collectortest.Start(t.Context(), "../proto", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	wh, err := duckdb.Open(t.Context(), filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wh.Close(context.Background()) })
	src, err := contract.CompileDir(t.Context(), "../proto")
	if err != nil {
		t.Fatal(err)
	}
	all, err := src.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	reg := &fakeRegistry{bySubject: map[string][]*contract.Schema{}}
	for _, s := range all {
		v, err := st.Schemas.Latest(t.Context(), s.Subject)
		if err != nil {
			t.Fatal(err)
		}
		reg.add(v)
	}
	h := &harness{st: st, wh: wh, registry: reg, warehouse: wiring.NewDuckDBWarehouse(wh), drained: map[string]bool{},
		resender: &inProcessResender{c: st.Collector, p: collector.EdgePrincipal("console", "*")}}
	return h
}

// addVersion registers proto source (file name → text, edited from the
// repository's proto/) as the next version of subject.
func (h *harness) addVersion(t testing.TB, subject string, edit func(string) string) *contract.Schema {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir("../proto", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".proto") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../proto", path)
		files[filepath.ToSlash(rel)] = edit(string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := contract.CompileSources(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema(subject)
	if err != nil {
		t.Fatal(err)
	}
	v := h.st.Schemas.Add(s, contract.Usable)
	h.registry.add(v)
	return v
}

// event builds an event of subject from the payload's protojson.
func (h *harness) event(t testing.TB, subject, id, payloadJSON string, at time.Time) *eventv1.Event {
	t.Helper()
	s, err := h.st.Schemas.Latest(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	m := s.NewMessage()
	if err := (protojson.UnmarshalOptions{Resolver: s.Types()}).Unmarshal([]byte(payloadJSON), m); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &eventv1.Event{EventId: id, Payload: &anypb.Any{TypeUrl: "type.googleapis.com/" + subject, Value: b}, EventTime: timestamppb.New(at)}
}

// emit sends events through the collector and drains what it published
// into the warehouse.
func (h *harness) emit(t testing.TB, events ...*eventv1.Event) []*collectorv1.EventResult {
	t.Helper()
	res, err := h.resender.Resend(t.Context(), events)
	if err != nil {
		t.Fatal(err)
	}
	h.drain(t)
	return res
}

// drain writes what the collector published and was not written yet into
// the warehouse: hem-events to their tables, hem-failed to _failed_events.
func (h *harness) drain(t testing.TB) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	batches := map[string][]*sink.Event{}
	for _, m := range h.st.PubSub.Messages() {
		if h.drained[m.ID] {
			continue
		}
		h.drained[m.ID] = true
		switch m.Topic {
		case collectortest.TopicName(envelope.FailedTopic):
			s := contract.FailedEventSchema()
			msg := s.NewMessage()
			if err := proto.Unmarshal(m.Data, msg); err != nil {
				t.Fatal(err)
			}
			at := m.PublishTime
			batches[s.Subject] = append(batches[s.Subject], &sink.Event{ID: m.ID, Schema: s, Payload: m.Data, Message: msg, EventTime: at, ReceivedAt: at, PublishedAt: at})
		case collectortest.TopicName(envelope.EventsTopic):
			env, err := envelope.Decode(m.Attributes)
			if err != nil {
				t.Fatal(err)
			}
			s, err := h.st.Schemas.ByID(t.Context(), env.SchemaID)
			if err != nil {
				t.Fatal(err)
			}
			msg := s.NewMessage()
			if err := proto.Unmarshal(m.Data, msg); err != nil {
				t.Fatal(err)
			}
			batches[s.Subject] = append(batches[s.Subject], &sink.Event{ID: env.EventID, Schema: s, Payload: m.Data, Message: msg,
				EventTime: env.EventTime, ReceivedAt: env.ReceivedAt, PublishedAt: m.PublishTime, Producer: env.Producer, Attributes: env.Attributes})
		}
	}
	for subject, evs := range batches {
		if err := h.wh.Write(t.Context(), &sink.Batch{Subject: subject, Events: evs}); err != nil {
			t.Fatal(err)
		}
		if h.archive != nil && subject != contract.FailedEventSchema().Subject {
			if err := h.archive.Write(t.Context(), &sink.Batch{Subject: subject, Events: evs}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// sql runs q on the warehouse, values as the driver gives them.
func (h *harness) sql(t testing.TB, q string, args ...any) [][]any {
	t.Helper()
	res, err := (&duckWarehouse{db: h.wh.DB()}).Query(t.Context(), q, 1000, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res.Rows
}

// duckWarehouse is a Warehouse over a DuckDB database without hem dev's
// read-only path (internal/wiring), for the tests' own queries.
type duckWarehouse struct{ db *sql.DB }

var _ console.Warehouse = (*duckWarehouse)(nil)

func (w *duckWarehouse) Query(ctx context.Context, q string, limit int, args ...any) (*console.Result, error) {
	rows, err := w.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &console.Result{Columns: cols}
	for rows.Next() {
		if len(res.Rows) == limit {
			res.Truncated = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}

func (w *duckWarehouse) Estimate(context.Context, string) (int64, bool, error) { return 0, false, nil }
func (w *duckWarehouse) Dialect() string                                       { return "duckdb" }
func (w *duckWarehouse) Table(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// fakeRegistry is console.Registry over the schemas the harness's
// collector knows.
type fakeRegistry struct {
	mu        sync.Mutex
	bySubject map[string][]*contract.Schema
}

func (r *fakeRegistry) add(s *contract.Schema) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bySubject[s.Subject] = append(r.bySubject[s.Subject], s)
}

func (r *fakeRegistry) Subjects(context.Context) ([]*registryv1.SubjectInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*registryv1.SubjectInfo
	for subject, vs := range r.bySubject {
		l := vs[len(vs)-1]
		out = append(out, &registryv1.SubjectInfo{Subject: subject, LatestVersion: int32(l.Version), LatestId: l.ID})
	}
	slices.SortFunc(out, func(a, b *registryv1.SubjectInfo) int { return strings.Compare(a.Subject, b.Subject) })
	return out, nil
}

func (r *fakeRegistry) Versions(_ context.Context, subject string) ([]*registryv1.Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	vs, ok := r.bySubject[subject]
	if !ok {
		return nil, fmt.Errorf("subject %s: not found", subject)
	}
	var out []*registryv1.Schema
	for _, v := range vs {
		out = append(out, v.Proto(false))
	}
	return out, nil
}

func (r *fakeRegistry) Version(_ context.Context, subject string, version int) (*contract.Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.bySubject[subject] {
		if v.Version == version {
			return v, nil
		}
	}
	return nil, fmt.Errorf("subject %s version %d: not found", subject, version)
}

func (r *fakeRegistry) Register(context.Context, *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	return nil, fmt.Errorf("not in this test")
}

// inProcessResender resends through the collector's core, as hem dev's
// console does, and checks first with Collector.Check.
type inProcessResender struct {
	c *collector.Collector
	p *auth.Principal

	mu     sync.Mutex
	sent   [][]string // event ids of each Resend
	refuse error      // when set, Resend fails with it (a collector outage)
}

var (
	_ console.Resender = (*inProcessResender)(nil)
	_ console.Checker  = (*inProcessResender)(nil)
)

func inputs(events []*eventv1.Event) []collector.Input {
	in := make([]collector.Input, len(events))
	for i, e := range events {
		in[i].Event = e
	}
	return in
}

func (r *inProcessResender) Resend(ctx context.Context, events []*eventv1.Event) ([]*collectorv1.EventResult, error) {
	r.mu.Lock()
	refuse := r.refuse
	var ids []string
	for _, e := range events {
		ids = append(ids, e.GetEventId())
	}
	r.sent = append(r.sent, ids)
	r.mu.Unlock()
	if refuse != nil {
		return nil, refuse
	}
	return r.c.Ingest(ctx, r.p, inputs(events))
}

func (r *inProcessResender) Check(ctx context.Context, events []*eventv1.Event) ([]*collectorv1.EventResult, error) {
	return r.c.Check(ctx, r.p, inputs(events))
}

// resent returns the event ids of every Resend so far.
func (r *inProcessResender) resent() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

func protoreflectName(s string) protoreflect.Name { return protoreflect.Name(s) }
