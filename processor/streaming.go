package processor

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
)

// StreamingPuller pulls a subscription with StreamingPull through the
// client library's Subscriber.Receive, behind the same Puller interface as
// SubscriptionPuller. The library keeps every message it handed out leased
// (up to ReceiveSettings.MaxExtension); on top of that the puller keeps
// Pub/Sub's lease semantics for the processor: a message is redelivered
// (nacked) when the deadline the processor last set passes, 10 s after
// Pull unless extended. Backoffs are therefore kept in memory while the
// library holds the message, and count against ReceiveSettings'
// outstanding bounds; set those at least as high as the processor's.
//
// Run Receive alongside the processor with the same context; it returns
// once the processor settled every message, or when
// settings.ShutdownOptions.Timeout passed (default: a minute after the
// context ended; set it a little above the processor's drain timeout).
// Messages still held then, such as nacks waiting for their backoff, come
// back when their leases run out. It is safe for concurrent use.
type StreamingPuller struct {
	sub  *pubsub.Subscriber
	msgs chan *pubsub.Message
	seq  atomic.Uint64
	err  atomic.Pointer[error]

	mu     sync.Mutex
	leased map[string]*streamLease
}

type streamLease struct {
	m     *pubsub.Message
	timer *time.Timer
}

var _ Puller = (*StreamingPuller)(nil)

// NewStreamingPuller pulls sub (an id or a full name) with client and the
// given receive settings.
func NewStreamingPuller(client *pubsub.Client, sub string, settings pubsub.ReceiveSettings) *StreamingPuller {
	s := client.Subscriber(sub)
	if settings.ShutdownOptions == nil {
		settings.ShutdownOptions = &pubsub.ShutdownOptions{Behavior: pubsub.ShutdownBehaviorWaitForProcessing, Timeout: time.Minute}
	}
	s.ReceiveSettings = settings
	return &StreamingPuller{sub: s, msgs: make(chan *pubsub.Message), leased: map[string]*streamLease{}}
}

// Receive streams messages to Pull until ctx ends and every message handed
// out is acked or nacked; messages not yet handed out are nacked. It
// returns nil after ctx ended, or the error that stopped the stream (Pull
// returns it from then on).
func (s *StreamingPuller) Receive(ctx context.Context) error {
	err := s.sub.Receive(ctx, func(ctx context.Context, m *pubsub.Message) {
		select {
		case s.msgs <- m:
		case <-ctx.Done():
			m.Nack()
		}
	})
	// The library has let go of everything: forget the leases.
	s.mu.Lock()
	for id, l := range s.leased {
		l.timer.Stop()
		delete(s.leased, id)
	}
	s.mu.Unlock()
	if err == nil && ctx.Err() == nil {
		err = errors.New("streaming pull ended")
	}
	if err != nil {
		s.err.Store(&err)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Pull implements Puller: it waits up to a second for the first message.
func (s *StreamingPuller) Pull(ctx context.Context, max int) ([]*Message, error) {
	if err := s.err.Load(); err != nil {
		return nil, *err
	}
	var got []*pubsub.Message
	select {
	case m := <-s.msgs:
		got = append(got, m)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Second):
		return nil, nil
	}
more:
	for len(got) < max {
		select {
		case m := <-s.msgs:
			got = append(got, m)
		default:
			break more
		}
	}
	out := make([]*Message, len(got))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range got {
		id := strconv.FormatUint(s.seq.Add(1), 10)
		l := &streamLease{m: m}
		l.timer = time.AfterFunc(minLease, func() { s.expire(id) })
		s.leased[id] = l
		attempt := 0
		if m.DeliveryAttempt != nil {
			attempt = *m.DeliveryAttempt
		}
		out[i] = &Message{AckID: id, ID: m.ID, Data: m.Data, Attributes: m.Attributes, PublishTime: m.PublishTime, DeliveryAttempt: attempt}
	}
	return out, nil
}

// Ack implements Puller.
func (s *StreamingPuller) Ack(_ context.Context, ackIDs []string) error {
	for _, l := range s.take(ackIDs) {
		l.m.Ack()
	}
	return nil
}

// ModifyAckDeadline implements Puller: zero nacks at once, more moves the
// moment the message is nacked.
func (s *StreamingPuller) ModifyAckDeadline(_ context.Context, ackIDs []string, seconds int) error {
	if seconds <= 0 {
		for _, l := range s.take(ackIDs) {
			l.m.Nack()
		}
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ackIDs {
		if l := s.leased[id]; l != nil {
			l.timer.Reset(time.Duration(seconds) * time.Second)
		}
	}
	return nil
}

func (s *StreamingPuller) expire(id string) {
	for _, l := range s.take([]string{id}) {
		l.m.Nack()
	}
}

// take removes and returns the leases of ids that are still held.
func (s *StreamingPuller) take(ids []string) []*streamLease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*streamLease, 0, len(ids))
	for _, id := range ids {
		if l := s.leased[id]; l != nil {
			l.timer.Stop()
			delete(s.leased, id)
			out = append(out, l)
		}
	}
	return out
}
