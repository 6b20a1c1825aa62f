package sink_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/hemlabs/hem/sink"
)

// memorySink is the smallest sink that keeps the contract: one row per
// event id, an identical copy is no error, a different payload under a
// stored id fails that event alone, permanently.
type memorySink struct {
	mu   sync.Mutex
	rows map[string][]byte // event id → payload
}

var _ sink.Sink = (*memorySink)(nil)

func (s *memorySink) Write(ctx context.Context, b *sink.Batch) error {
	if err := ctx.Err(); err != nil {
		return err // nothing written: the processor retries the whole batch
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep, failed := sink.FirstOfEachID(b.Events)
	for _, i := range keep {
		e := b.Events[i]
		stored, ok := s.rows[e.ID]
		switch {
		case !ok:
			s.rows[e.ID] = e.Payload
		case string(stored) != string(e.Payload):
			if failed == nil {
				failed = map[int]error{}
			}
			failed[i] = sink.DuplicateID(e.ID)
		}
	}
	if len(failed) > 0 {
		return &sink.BatchError{Failed: failed} // the others are durable
	}
	return nil
}

func (s *memorySink) Close(context.Context) error { return nil }

// A sink writes a batch of one subject and reports, per event, what is
// durable: the processor acks those and records permanent failures as
// FailedEvents.
func Example() {
	ctx := context.Background()
	var s sink.Sink = &memorySink{rows: map[string][]byte{}}

	first := &sink.Batch{Subject: "shop.v1.OrderPlaced", Events: []*sink.Event{
		{ID: "a", Payload: []byte("order 1")},
		{ID: "b", Payload: []byte("order 2")},
	}}
	fmt.Println("first write:", s.Write(ctx, first))

	// A redelivery of "a" and another payload under "b".
	again := &sink.Batch{Subject: "shop.v1.OrderPlaced", Events: []*sink.Event{
		{ID: "a", Payload: []byte("order 1")},
		{ID: "b", Payload: []byte("order 2, edited")},
		{ID: "c", Payload: []byte("order 3")},
	}}
	err := s.Write(ctx, again)
	for i, e := range again.Events {
		if err := sink.ErrorFor(err, i); err != nil {
			fmt.Printf("%s: failed, permanent=%t: %v\n", e.ID, sink.IsPermanent(err), err)
			continue
		}
		fmt.Printf("%s: durable\n", e.ID)
	}
	if err := s.Close(ctx); err != nil {
		fmt.Println(err)
	}
	// Output:
	// first write: <nil>
	// a: durable
	// b: failed, permanent=true: event b: a different event under an id already stored
	// c: durable
}
