package processor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/processor/processortest"
	"github.com/hemlabs/hem/sink"
)

func TestStreamingPull(t *testing.T) {
	t.Parallel()
	// The client library manages leases on the wall clock.
	e := newEnv(t, 1)
	ids := e.publish(t, 150)
	sp := processor.NewStreamingPuller(e.client, "events", pubsub.ReceiveSettings{NumGoroutines: 8, MaxOutstandingMessages: 1000})
	ctx, cancel := context.WithCancel(t.Context())
	received := make(chan error, 1)
	go func() { received <- sp.Receive(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-received; err != nil {
			t.Errorf("Receive: %v", err)
		}
	})
	s := processortest.New()
	var failures atomic.Int32
	s.SetFault(func(context.Context, *sink.Batch) error { // the first write fails
		if failures.Add(1) == 1 {
			return errors.New("warehouse busy")
		}
		return nil
	})
	r := e.startWith(t, sp, s, nil)
	e.waitFor(t, "every event", 30*time.Second, func() bool { return s.Len() == len(ids) && r.p.Stats().Acked == int64(len(ids)) })
	if st := r.p.Stats(); st.Nacked == 0 {
		t.Fatalf("stats %+v: the failed write was not nacked", st)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "the acks to reach Pub/Sub", 10*time.Second, func() bool {
		for _, m := range e.messages(envelope.EventsTopic) {
			if m.Acks != 1 {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		if s.Writes(id) != 1 {
			t.Fatalf("event %s written %d times", id, s.Writes(id))
		}
	}
}
