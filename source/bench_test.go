package source

import (
	"context"
	"testing"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// acceptCore answers every input ACCEPTED at once: the benchmark measures
// the loader, not the collector.
type acceptCore struct{}

func (acceptCore) Check(_ context.Context, in []Input) ([]CheckResult, error) {
	out := make([]CheckResult, len(in))
	for i, r := range acceptAll(in) {
		out[i] = CheckResult{Result: r, Prepared: &Prepared{Data: in[i].Event.GetPayload().GetValue()}}
	}
	return out, nil
}

func (acceptCore) Ingest(_ context.Context, in []Input) ([]*collectorv1.EventResult, error) {
	return acceptAll(in), nil
}

func acceptAll(in []Input) []*collectorv1.EventResult {
	out := make([]*collectorv1.EventResult, len(in))
	for i, x := range in {
		out[i] = &collectorv1.EventResult{EventId: x.Event.GetEventId(), Status: collectorv1.EventStatus_EVENT_STATUS_ACCEPTED}
	}
	return out
}

// BenchmarkPass2 is pass 2 (read a CSV, map, make ids and inputs, ingest,
// checkpoint) over an in-memory object, with a core that accepts
// everything.
func BenchmarkPass2(b *testing.B) {
	const n = 100_000
	obj := newObject("catalogue/bench.csv", 1, lines(n)...)
	led := newLedger(b)
	l, err := NewLoader(acceptCore{}, led, WithOwner("bench"))
	if err != nil {
		b.Fatal(err)
	}
	src := catalogue(false)
	m := compile(b, src)
	var gen int64
	b.ReportAllocs()
	b.SetBytes(int64(len(obj.data)))
	for b.Loop() {
		gen++
		attrs := obj.attrs
		attrs.Generation = gen
		e, _, err := led.Claim(b.Context(), &sourcev1.LedgerEntry{Source: src.GetName(), Uri: attrs.URI, Generation: gen}, "bench", l.cfg.lease)
		if err != nil {
			b.Fatal(err)
		}
		e.Records = n
		ld := &load{Loader: l, src: src, m: m, obj: obj, attrs: attrs, entry: e, typeURL: "type.googleapis.com/" + src.GetSubject(), readRule: readRule(src)}
		if err := ld.pass2(b.Context()); err != nil {
			b.Fatal(err)
		}
		if e.GetAccepted() != n {
			b.Fatalf("%d accepted, want %d", e.GetAccepted(), n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkLoad is a whole load (pass 1 with its spill, pass 2 from it)
// of an in-memory object, with a core that accepts everything.
func BenchmarkLoad(b *testing.B) {
	const n = 100_000
	obj := newObject("catalogue/bench.csv", 1, lines(n)...)
	led := newLedger(b)
	l, err := NewLoader(acceptCore{}, led, WithOwner("bench"), WithSpill(b.TempDir(), 1<<30))
	if err != nil {
		b.Fatal(err)
	}
	src := catalogue(false)
	m := compile(b, src)
	var gen int64
	b.ReportAllocs()
	b.SetBytes(int64(len(obj.data)))
	for b.Loop() {
		gen++
		e, err := l.Load(b.Context(), src, m, newRawObject(obj.attrs.Name, gen, obj.data))
		if err != nil {
			b.Fatal(err)
		}
		if e.GetAccepted() != n {
			b.Fatalf("%d accepted, want %d", e.GetAccepted(), n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
