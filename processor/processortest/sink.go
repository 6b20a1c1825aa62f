// Package processortest has an in-memory sink with fault injection for
// processor tests: it keeps one row per event id, like the warehouse, and
// counts every durable write of an event, so a test sees both what a
// dedup sink holds and how often each event was written.
package processortest

import (
	"context"
	"maps"
	"sync"

	"github.com/hemlabs/hem/sink"
)

// Fault decides the outcome of a Write before the sink stores anything: a
// nil error writes the whole batch, a *sink.BatchError writes all but the
// events it names, any other error writes nothing. It may block (ctx is
// the Write's).
type Fault func(ctx context.Context, b *sink.Batch) error

// Sink is an in-memory sink.Sink. It is safe for concurrent use.
type Sink struct {
	mu      sync.Mutex
	events  map[string]*sink.Event
	writes  map[string]int // event id → durable writes
	batches int
	fault   Fault
}

var _ sink.Sink = (*Sink)(nil)

// New returns an empty sink.
func New() *Sink {
	return &Sink{events: map[string]*sink.Event{}, writes: map[string]int{}}
}

// SetFault makes every Write call f first; nil removes the fault.
func (s *Sink) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Write implements sink.Sink.
func (s *Sink) Write(ctx context.Context, b *sink.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	var err error
	if fault != nil {
		err = fault(ctx, b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	for i, e := range b.Events {
		if sink.ErrorFor(err, i) != nil {
			continue
		}
		s.writes[e.ID]++
		if _, ok := s.events[e.ID]; !ok {
			s.events[e.ID] = e
		}
	}
	return err
}

// Close implements sink.Sink.
func (s *Sink) Close(context.Context) error { return nil }

// Events returns the stored events by id (the first write of each).
func (s *Sink) Events() map[string]*sink.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.events)
}

// Len is the number of distinct events stored.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// Writes is how often the event was written durably (more than once after
// a redelivery).
func (s *Sink) Writes(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[id]
}

// Batches is the number of Write calls that got past the context check.
func (s *Sink) Batches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}
