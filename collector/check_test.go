package collector_test

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
)

const productSubject = "shop.products.v1.ProductCreated"

func productCreated(i int) *productsv1.ProductCreated {
	return &productsv1.ProductCreated{
		Sku:       fmt.Sprintf("SKU-%06d", i),
		Name:      "Oat milk 1L",
		Category:  productsv1.Category_CATEGORY_DAIRY,
		Price:     &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 1_990_000},
		Ean:       "8712345678906",
		CreatedAt: timestamppb.New(placedAt),
	}
}

// checkInputs are inputs of every kind of answer: accepted, rejected by
// the contract, by the registry, by the envelope, by the edge.
func checkInputs(t testing.TB) []collector.Input {
	t.Helper()
	bad := productCreated(2)
	bad.Sku, bad.Ean = "", "123"
	withHem := event(t, "hem-attr", productCreated(3))
	withHem.Attributes = map[string]string{envelope.AttrSource: "catalogue"}
	return []collector.Input{
		{Event: event(t, "good", productCreated(1))},
		{Event: event(t, "invalid", bad)},
		{Event: rawEvent("unknown", "shop.nothing.v1.Nothing", nil)},
		{Event: rawEvent("garbage", productSubject, []byte{0xff, 0xff, 0xff})},
		{Event: withHem},
		{Event: rawEvent("edge", productSubject, nil), Err: &collector.Rejection{Stage: eventv1.Stage_STAGE_READ, Reason: eventv1.Reason_REASON_MAPPING_FAILED, Message: "price: not a number"}},
	}
}

// TestCheckAnswersLikeIngestAndPublishesNothing: Check gives every input
// the answer Ingest then gives it, and neither hem-events nor hem-failed
// sees a message until Ingest runs.
func TestCheckAnswersLikeIngestAndPublishesNothing(t *testing.T) {
	t.Parallel()
	st := start(t)
	p := collector.EdgePrincipal("source:catalogue", "*")
	in := checkInputs(t)
	checked, err := st.Collector.Check(t.Context(), p, in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.PubSub.Messages()); n != 0 {
		t.Fatalf("Check published %d messages, want none", n)
	}
	ingested, err := st.Collector.Ingest(t.Context(), p, in)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := []collectorv1.EventStatus{
		collectorv1.EventStatus_EVENT_STATUS_ACCEPTED,
		collectorv1.EventStatus_EVENT_STATUS_REJECTED,
		collectorv1.EventStatus_EVENT_STATUS_REJECTED,
		collectorv1.EventStatus_EVENT_STATUS_REJECTED,
		collectorv1.EventStatus_EVENT_STATUS_REJECTED,
		collectorv1.EventStatus_EVENT_STATUS_REJECTED,
	}
	for i := range in {
		if got := checked[i].GetStatus(); got != wantStatus[i] {
			t.Errorf("input %s: Check %v, want %v", in[i].Event.GetEventId(), checked[i], wantStatus[i])
		}
		if !proto.Equal(ingested[i], checked[i]) {
			t.Errorf("input %s: Check answered %v, Ingest %v", in[i].Event.GetEventId(), checked[i], ingested[i])
		}
	}
	if n := len(checked[1].GetViolations()); n != 2 {
		t.Errorf("invalid product: %d violations, want 2 (sku, ean)", n)
	}
	if n, want := len(st.PubSub.Messages()), len(in); n != want {
		t.Errorf("Ingest published %d messages, want %d", n, want)
	}
}

// TestCheckRefusesLikeIngest: a principal not allowed the subject, or a
// batch over the limit, is refused whole by Check as by Ingest.
func TestCheckRefusesLikeIngest(t *testing.T) {
	t.Parallel()
	st := start(t, collector.WithLimits(collector.Limits{MaxBatchEvents: 2}))
	tests := []struct {
		name string
		p    *edge
		n    int
		want error
	}{
		{name: "other subject", p: &edge{"source:stock", "shop.products.v1.StockLevelChanged"}, n: 1, want: collector.ErrPermissionDenied},
		{name: "too many", p: &edge{"source:catalogue", productSubject}, n: 3, want: collector.ErrBatchTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := make([]collector.Input, tc.n)
			for i := range in {
				in[i].Event = event(t, "", productCreated(i))
			}
			p := collector.EdgePrincipal(tc.p.name, tc.p.subject)
			if _, err := st.Collector.Check(t.Context(), p, in); !errors.Is(err, tc.want) {
				t.Errorf("Check: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := st.Collector.Check(t.Context(), nil, nil); !errors.Is(err, collector.ErrUnauthenticated) {
		t.Errorf("Check without principal: %v", err)
	}
}

type edge struct{ name, subject string }

// TestOriginLineage: a file source's rejected record's FailedEvent (on
// hem-failed) carries its origin whole, and the hem-failed message the
// lineage attributes; an accepted record is published with its given id
// and the lineage attributes, which the envelope keeps for the sinks'
// _attributes.
func TestOriginLineage(t *testing.T) {
	t.Parallel()
	st := start(t)
	p := collector.EdgePrincipal("source:catalogue", productSubject)
	const id = "0193a3b4-5c6d-8e8f-9a0b-1c2d3e4f5a6b" // a UUIDv8 a loader derived
	good := event(t, id, productCreated(1))
	good.Attributes = map[string]string{"batch": "2026-12-07"}
	bad := productCreated(2)
	bad.Name = ""
	goodOrigin := &eventv1.Origin{Source: "catalogue", Uri: "gs://landing/catalogue/2026-12-07.csv.gz", Generation: 1765000000123456, Line: 2}
	badOrigin := &eventv1.Origin{Source: "catalogue", Uri: "gs://landing/catalogue/2026-12-07.zip", Generation: 1765000000123456, Entry: "products.csv", Line: 3,
		Record: "SKU-000002,,DAIRY,[PII withheld]"}
	results, err := st.Collector.Ingest(t.Context(), p, []collector.Input{
		{Event: good, Origin: goodOrigin},
		{Event: event(t, "bad-3", bad), Origin: badOrigin},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED || r.GetEventId() != id {
		t.Errorf("good record: %v, want ACCEPTED with id %s", r, id)
	}
	if r := results[1]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
		t.Errorf("bad record: %v, want REJECTED", r)
	}

	events := st.Published(envelope.EventsTopic)
	if len(events) != 1 {
		t.Fatalf("%d events published, want 1", len(events))
	}
	env, err := envelope.Decode(events[0].Attributes)
	if err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]string{
		"batch":                       "2026-12-07",
		envelope.AttrSource:           "catalogue",
		envelope.AttrSourceURI:        "gs://landing/catalogue/2026-12-07.csv.gz",
		envelope.AttrSourceGeneration: "1765000000123456",
		envelope.AttrSourceLine:       "2",
	}
	if env.EventID != id {
		t.Errorf("published event id %q, want %q", env.EventID, id)
	}
	if !maps.Equal(wantAttrs, env.Attributes) {
		t.Errorf("attributes the sinks store %v, want %v", env.Attributes, wantAttrs)
	}

	failed := st.Published(envelope.FailedTopic)
	if len(failed) != 1 {
		t.Fatalf("%d FailedEvents published, want 1", len(failed))
	}
	fe, err := envelope.DecodeFailed(failed[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(fe.GetOrigin(), badOrigin) {
		t.Errorf("FailedEvent origin %v, want %v", fe.GetOrigin(), badOrigin)
	}
	if len(fe.GetViolations()) != 1 || fe.GetViolations()[0].GetFieldPath() != "name" {
		t.Errorf("FailedEvent violations %v, want one on name", fe.GetViolations())
	}
	for k, want := range map[string]string{envelope.AttrSource: "catalogue", envelope.AttrSourceEntry: "products.csv", envelope.AttrSourceLine: "3"} {
		if got := failed[0].Attributes[k]; got != want {
			t.Errorf("hem-failed attribute %s=%q, want %q", k, got, want)
		}
	}
}

// TestOriginRecordFitsThePublishLimit: a record as long as a file source
// allows (16 MiB) is cut to the event limit, saying so, so its FailedEvent
// can still be published (and stored as a row): the rejection stays final
// instead of turning into a RETRY for ever.
func TestOriginRecordFitsThePublishLimit(t *testing.T) {
	t.Parallel()
	st := start(t)
	p := collector.EdgePrincipal("source:catalogue", productSubject)
	long := make([]byte, 16<<20)
	for i := range long {
		long[i] = 'x'
	}
	results, err := st.Collector.Ingest(t.Context(), p, []collector.Input{{
		Event:  rawEvent("long", productSubject, nil),
		Err:    &collector.Rejection{Stage: eventv1.Stage_STAGE_READ, Reason: eventv1.Reason_REASON_MAPPING_FAILED, Message: "price: not a number"},
		Origin: &eventv1.Origin{Source: "catalogue", Uri: "file:///tmp/x.csv", Line: 9, Record: string(long)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
		t.Fatalf("%v, want REJECTED", r)
	}
	failed := st.Published(envelope.FailedTopic)
	if len(failed) != 1 {
		t.Fatalf("%d FailedEvents, want 1", len(failed))
	}
	fe, err := envelope.DecodeFailed(failed[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fe.GetOrigin().GetRecord()); n != 1<<20 || fe.GetOrigin().GetLine() != 9 {
		t.Errorf("origin record of %d bytes, line %d: want it cut to 1 MiB, the line kept", n, fe.GetOrigin().GetLine())
	}
	if !strings.Contains(fe.GetMessage(), "origin record of 16777216 bytes cut") {
		t.Errorf("message %q does not say the record was cut", fe.GetMessage())
	}
}

// TestWireCannotSetLineage: a producer on the wire cannot pass lineage
// attributes off as a file source's (hem- attributes are refused), and
// what it sends is published without any.
func TestWireCannotSetLineage(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	for _, k := range []string{envelope.AttrSource, envelope.AttrSourceURI, envelope.AttrSourceGeneration, envelope.AttrSourceLine, "HEM-SOURCE"} {
		e := event(t, "forged", productCreated(1))
		e.Attributes = map[string]string{k: "catalogue"}
		r := mustCollect(t, c, e)[0]
		if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || r.GetReason() != eventv1.Reason_REASON_INVALID_ENVELOPE {
			t.Errorf("attribute %s from the wire: %v, want REJECTED INVALID_ENVELOPE", k, r)
		}
	}
	r := mustCollect(t, c, event(t, "plain", productCreated(1)))[0]
	if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Fatalf("%v", r)
	}
	for _, m := range st.Published(envelope.EventsTopic) {
		for k := range m.Attributes {
			if envelope.IsLineage(k) {
				t.Errorf("wire event published with %s", k)
			}
		}
	}
	for _, m := range st.Published(envelope.FailedTopic) {
		fe, err := envelope.DecodeFailed(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if fe.GetOrigin() != nil {
			t.Errorf("wire event's FailedEvent has origin %v", fe.GetOrigin())
		}
	}
}

// BenchmarkCheck is what a file source pays per record before publishing
// any: Check over batches of 500 ProductCreated. It reports µs/event.
func BenchmarkCheck(b *testing.B) {
	st := start(b)
	p := collector.EdgePrincipal("source:catalogue", productSubject)
	in := make([]collector.Input, 500)
	for i := range in {
		in[i] = collector.Input{Event: event(b, fmt.Sprintf("id-%d", i), productCreated(i)),
			Origin: &eventv1.Origin{Source: "catalogue", Uri: "gs://landing/x.csv", Line: int64(i + 2)}}
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		results, err := st.Collector.Check(b.Context(), p, in)
		if err != nil {
			b.Fatal(err)
		}
		if results[0].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			b.Fatal(results[0])
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N*len(in)), "µs/event")
	if n := len(st.PubSub.Messages()); n != 0 {
		b.Fatalf("Check published %d messages", n)
	}
}

// TestIngestCheckedSkipsOnlyTheRulesOfTheSameSchema: an input Check
// accepted under schema id N (Input.Checked = N) is not validated again
// when it resolves to N, so a file source's second pass does not pay for
// protovalidate twice; with any other id, or none, the rules run. The
// rest of the core runs regardless: an unknown field still rejects it.
func TestIngestCheckedSkipsOnlyTheRulesOfTheSameSchema(t *testing.T) {
	t.Parallel()
	st := start(t)
	p := collector.EdgePrincipal("source:catalogue", "*")
	bad := productCreated(2)
	bad.Sku = "" // breaks string.min_len
	good, err := st.Collector.Check(t.Context(), p, []collector.Input{{Event: event(t, "good", productCreated(1))}})
	if err != nil {
		t.Fatal(err)
	}
	id := good[0].GetSchemaId()
	if id == 0 {
		t.Fatalf("Check answered %v, want a schema id", good[0])
	}
	unknown := event(t, "unknown-field", productCreated(3))
	unknown.Payload.Value = protowire.AppendTag(unknown.Payload.Value, 99, protowire.VarintType)
	unknown.Payload.Value = protowire.AppendVarint(unknown.Payload.Value, 1)
	for _, tc := range []struct {
		name    string
		in      collector.Input
		accepts bool
	}{
		{"checked under the schema it resolves to", collector.Input{Event: event(t, "same", bad), Checked: id}, true},
		{"checked under another schema", collector.Input{Event: event(t, "other", bad), Checked: id + 1000}, false},
		{"not checked", collector.Input{Event: event(t, "none", bad)}, false},
		{"checked, with an unknown field", collector.Input{Event: unknown, Checked: id}, false},
	} {
		res, err := st.Collector.Ingest(t.Context(), p, []collector.Input{tc.in})
		if err != nil {
			t.Fatal(err)
		}
		if got := res[0].GetStatus() == collectorv1.EventStatus_EVENT_STATUS_ACCEPTED; got != tc.accepts {
			t.Errorf("%s: %v, want accepted %v", tc.name, res[0], tc.accepts)
		}
	}
}

// TestIngestPreparedPublishesWhatCheckPrepared: CheckPrepared gives, for
// each accepted input, the bytes and entity key Ingest publishes; an input
// passed back with them and the schema id it was checked under is
// published with them as they are (the payload is not decoded again),
// while under any other id the payload goes through the core as usual.
func TestIngestPreparedPublishesWhatCheckPrepared(t *testing.T) {
	t.Parallel()
	st := start(t)
	p := collector.EdgePrincipal("source:catalogue", "*")
	bad := productCreated(2)
	bad.Sku = ""
	in := []collector.Input{{Event: event(t, "good", productCreated(1))}, {Event: event(t, "bad", bad)}}
	res, prep, err := st.Collector.CheckPrepared(t.Context(), p, in)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED || res[1].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
		t.Fatalf("CheckPrepared answered %v", res)
	}
	want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(productCreated(1))
	if string(prep[0].Data) != string(want) || prep[0].EntityKey != "SKU-000001" {
		t.Errorf("prepared %x %q, want %x %q", prep[0].Data, prep[0].EntityKey, want, "SKU-000001")
	}
	if prep[1].Data != nil || prep[1].EntityKey != "" {
		t.Errorf("a rejected input was prepared: %+v", prep[1])
	}
	id := res[0].GetSchemaId()
	// Another record's prepared output shows which bytes Ingest publishes.
	other, _ := proto.MarshalOptions{Deterministic: true}.Marshal(productCreated(9))
	marked := &collector.Prepared{Data: other, EntityKey: "SKU-000009"}
	// Check encodes each payload after the last into one buffer: never
	// into an edge's prepared bytes.
	if _, err := st.Collector.Check(t.Context(), p, []collector.Input{
		{Event: event(t, "p", productCreated(1)), Checked: id, Prepared: marked},
		{Event: event(t, "q", productCreated(3))},
	}); err != nil {
		t.Fatal(err)
	}
	if again, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(productCreated(9)); string(marked.Data) != string(again) {
		t.Fatalf("Check wrote into the prepared bytes: %x, want %x", marked.Data, again)
	}
	for _, tc := range []struct {
		name     string
		in       collector.Input
		data     []byte
		key      string
		accepted bool
	}{
		{"prepared under the schema it resolves to", collector.Input{Event: event(t, "same", productCreated(1)), Checked: id, Prepared: marked}, other, "SKU-000009", true},
		{"prepared under another schema", collector.Input{Event: event(t, "other", productCreated(1)), Checked: id + 1000, Prepared: marked}, want, "SKU-000001", true},
		{"prepared, not checked", collector.Input{Event: event(t, "unchecked", productCreated(1)), Prepared: marked}, want, "SKU-000001", true},
		{"prepared, outside the event time window", collector.Input{Event: func() *eventv1.Event {
			e := event(t, "late", productCreated(1))
			e.EventTime = timestamppb.New(time.Now().AddDate(-5, 0, 0))
			return e
		}(), Checked: id, Prepared: marked}, nil, "", false},
	} {
		res, err := st.Collector.Ingest(t.Context(), p, []collector.Input{tc.in})
		if err != nil {
			t.Fatal(err)
		}
		if got := res[0].GetStatus() == collectorv1.EventStatus_EVENT_STATUS_ACCEPTED; got != tc.accepted {
			t.Errorf("%s: %v, want accepted %v", tc.name, res[0], tc.accepted)
			continue
		}
		if !tc.accepted {
			continue
		}
		var found bool
		for _, m := range st.Published(envelope.EventsTopic) {
			if m.Attributes[envelope.AttrEventID] == tc.in.Event.GetEventId() {
				found = true
				if string(m.Data) != string(tc.data) || m.Attributes[envelope.AttrEntityKey] != tc.key {
					t.Errorf("%s: published %x with key %q, want %x and %q", tc.name, m.Data, m.Attributes[envelope.AttrEntityKey], tc.data, tc.key)
				}
			}
		}
		if !found {
			t.Errorf("%s: nothing published", tc.name)
		}
	}
}
