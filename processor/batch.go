package processor

import (
	"sync"
	"time"

	"github.com/hemlabs/hem/sink"
)

// batch is the open or closed batch of one subject. The messages travel
// with their events, so the acks follow the write.
type batch struct {
	subject string
	msgs    []*Message
	events  []*sink.Event
	bytes   int64
	opened  time.Time
}

// scheduler hands closed batches to the writers: first in, first out, but
// never two batches of one subject at once, so a subject's batches are
// written in the order they closed. put blocks while limit batches wait,
// which holds the pullers back when the sink is slower than Pub/Sub.
type scheduler struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*batch
	busy   map[string]bool
	limit  int
	closed bool
}

func newScheduler(limit int) *scheduler {
	s := &scheduler{busy: map[string]bool{}, limit: limit}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *scheduler) put(b *batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) >= s.limit {
		s.cond.Wait()
	}
	s.queue = append(s.queue, b)
	s.cond.Broadcast()
}

// take returns the oldest batch whose subject is not being written, and
// marks the subject busy until done. It returns nil once the scheduler is
// closed and empty.
func (s *scheduler) take() *batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for i, b := range s.queue {
			if !s.busy[b.subject] {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				s.busy[b.subject] = true
				s.cond.Broadcast()
				return b
			}
		}
		if s.closed && len(s.queue) == 0 {
			return nil
		}
		s.cond.Wait()
	}
}

func (s *scheduler) done(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, subject)
	s.cond.Broadcast()
}

// close lets take return nil once the queue is empty. No put may follow.
func (s *scheduler) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cond.Broadcast()
}
