// Package processortest has an in-memory sink with fault injection for
// processor tests: it keeps one row per event id, like the warehouse, and
// counts every write.
package processortest

import (
	"context"
	"sync"

	"github.com/hemlabs/hem/sink"
)

// Sink is an in-memory sink.Sink. It is safe for concurrent use.
type Sink struct {
	mu      sync.Mutex
	events  map[string]*sink.Event
	writes  map[string]int // event id → times written
	fault   func(b *sink.Batch) error
	written chan struct{}
}

var _ sink.Sink = (*Sink)(nil)

// New returns an empty sink.
func New() *Sink {
	return &Sink{events: map[string]*sink.Event{}, writes: map[string]int{}, written: make(chan struct{}, 1)}
}

// SetFault makes every Write call f first: a nil error writes the whole
// batch, a *sink.BatchError writes all but the events it names, any other
// error writes nothing. nil removes the fault.
func (s *Sink) SetFault(f func(b *sink.Batch) error) {
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
		err = fault(b)
	}
	s.mu.Lock()
	for i, e := range b.Events {
		if sink.ErrorFor(err, i) != nil {
			continue
		}
		s.writes[e.ID]++
		if _, ok := s.events[e.ID]; !ok {
			s.events[e.ID] = e
		}
	}
	s.mu.Unlock()
	select {
	case s.written <- struct{}{}:
	default:
	}
	return err
}

// Close implements sink.Sink.
func (s *Sink) Close(context.Context) error { return nil }

// Events returns the stored events by id.
func (s *Sink) Events() map[string]*sink.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*sink.Event, len(s.events))
	for k, v := range s.events {
		out[k] = v
	}
	return out
}

// Len is the number of distinct events stored.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// Writes is how often the event was written (more than once after a
// redelivery).
func (s *Sink) Writes(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[id]
}

// Written is signalled after each Write.
func (s *Sink) Written() <-chan struct{} { return s.written }
