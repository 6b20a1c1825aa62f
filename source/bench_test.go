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

func (acceptCore) Check(_ context.Context, in []Input) ([]*collectorv1.EventResult, error) {
	return acceptAll(in), nil
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

// BenchmarkPass2 is pass 2 (read, map, id, ingest, checkpoint) over an
// in-memory object with a core that accepts everything.
func BenchmarkPass2(b *testing.B) {
	const n = 100_000
	obj := newObject("catalogue/bench.csv", 1, lines(n)...)
	led := newLedger()
	l, err := NewLoader(acceptCore{}, led, WithOwner("bench"))
	if err != nil {
		b.Fatal(err)
	}
	src := catalogue(false)
	b.ReportAllocs()
	for b.Loop() {
		e, _, err := led.Claim(b.Context(), &sourcev1.LedgerEntry{Source: src.GetName(), Uri: obj.attrs.URI, Generation: 1}, "bench", l.cfg.lease)
		if err != nil {
			b.Fatal(err)
		}
		e.Records = n
		ld := &load{Loader: l, src: src, m: fakeMapper{}, obj: obj, attrs: obj.attrs, entry: e, typeURL: "type.googleapis.com/" + src.GetSubject(), readRule: readRule(src)}
		if err := ld.pass2(b.Context()); err != nil {
			b.Fatal(err)
		}
		if e.GetAccepted() != n {
			b.Fatalf("%d accepted, want %d", e.GetAccepted(), n)
		}
		led.mu.Lock()
		clear(led.entries)
		led.mu.Unlock()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
