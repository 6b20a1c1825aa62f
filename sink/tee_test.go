package sink_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest"
)

func TestTeeIsDurableOnlyWhenEverySinkIs(t *testing.T) {
	t.Parallel()
	busy := errors.New("busy")
	refused := sink.Permanentf("refused")
	cases := []struct {
		name       string
		a, b       fault
		failed     []int // indexes that must fail
		permanent  []int // of those, the permanent ones
		inA, inB   []int // indexes each sink stored
		wantNilErr bool
	}{
		{name: "both write", inA: []int{0, 1, 2}, inB: []int{0, 1, 2}, wantNilErr: true},
		{
			name:   "one sink is down",
			b:      func(context.Context, *sink.Batch) error { return busy },
			failed: []int{0, 1, 2}, inA: []int{0, 1, 2},
		},
		{
			name:   "each refuses another event",
			a:      func(context.Context, *sink.Batch) error { return &sink.BatchError{Failed: map[int]error{0: busy}} },
			b:      func(context.Context, *sink.Batch) error { return &sink.BatchError{Failed: map[int]error{2: refused}} },
			failed: []int{0, 2}, permanent: []int{2}, inA: []int{1, 2}, inB: []int{0, 1},
		},
		{
			name:   "one retryable, one permanent for the same event",
			a:      func(context.Context, *sink.Batch) error { return &sink.BatchError{Failed: map[int]error{1: busy}} },
			b:      func(context.Context, *sink.Batch) error { return &sink.BatchError{Failed: map[int]error{1: refused}} },
			failed: []int{1}, permanent: []int{1}, inA: []int{0, 2}, inB: []int{0, 2},
		},
	}
	v1 := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := &countingSink{}, &countingSink{}
			a.SetFault(c.a)
			b.SetFault(c.b)
			batch := &sink.Batch{Subject: v1.Subject, Events: sinktest.Events(t, v1, 3)}
			err := sink.Tee(a, b).Write(t.Context(), batch)
			if (err == nil) != c.wantNilErr {
				t.Fatalf("Write = %v", err)
			}
			for i, ev := range batch.Events {
				e := sink.ErrorFor(err, i)
				if want := slices.Contains(c.failed, i); (e != nil) != want {
					t.Fatalf("event %d: error %v, want failed=%v", i, e, want)
				}
				if want := slices.Contains(c.permanent, i); sink.IsPermanent(e) != want {
					t.Fatalf("event %d: error %v, want permanent=%v", i, e, want)
				}
				if (a.Writes(ev.ID) == 1) != slices.Contains(c.inA, i) || (b.Writes(ev.ID) == 1) != slices.Contains(c.inB, i) {
					t.Fatalf("event %d stored in a: %d, b: %d", i, a.Writes(ev.ID), b.Writes(ev.ID))
				}
			}
		})
	}
}

// fault decides a Write's outcome before anything is stored: nil writes
// the batch, a *sink.BatchError all but the events it names, any other
// error nothing.
type fault func(ctx context.Context, b *sink.Batch) error

// countingSink counts the durable writes of each event id.
type countingSink struct {
	mu     sync.Mutex
	fault  fault
	writes map[string]int
}

func (s *countingSink) SetFault(f fault) { s.fault = f }

func (s *countingSink) Write(ctx context.Context, b *sink.Batch) error {
	var err error
	if s.fault != nil {
		err = s.fault(ctx, b)
	}
	var be *sink.BatchError
	if err != nil && !errors.As(err, &be) {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes == nil {
		s.writes = map[string]int{}
	}
	for i, e := range b.Events {
		if sink.ErrorFor(err, i) == nil {
			s.writes[e.ID]++
		}
	}
	return err
}

func (s *countingSink) Close(context.Context) error { return nil }

func (s *countingSink) Writes(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[id]
}
