package processor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/processor/processortest"
	"github.com/hemlabs/hem/sink"
)

func TestShutdownWritesPendingBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	ids := e.publish(t, 300)
	s := processortest.New()
	// Batches would wait an hour: only the drain writes them.
	r := e.start(t, s, processor.WithBatch(100_000, 1<<30, time.Hour))
	e.waitFor(t, "every message held", 10*time.Second, func() bool { return r.p.Stats().Outstanding == int64(len(ids)) })
	if s.Len() != 0 {
		t.Fatalf("%d events written before the batch was due", s.Len())
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after a clean shutdown: %v", err)
	}
	if s.Len() != len(ids) {
		t.Fatalf("the drain wrote %d of %d events", s.Len(), len(ids))
	}
	for id, m := range e.messages(envelope.EventsTopic) {
		if m.Acks != 1 {
			t.Fatalf("event %s acked %d times by the drain", id, m.Acks)
		}
	}
	if st := r.p.Stats(); st.Acked != int64(len(ids)) || st.Outstanding != 0 {
		t.Fatalf("stats after the drain %+v", st)
	}
}

func TestShutdownNacksWhatItCannotWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	ids := e.publish(t, 200)
	warehouse := processortest.New()
	stuck := processortest.New()
	stuck.SetFault(func(ctx context.Context, _ *sink.Batch) error { <-ctx.Done(); return ctx.Err() })
	first := e.start(t, stuck, processor.WithDrainTimeout(200*time.Millisecond))
	e.waitFor(t, "every message held", 10*time.Second, func() bool { return first.p.Stats().Outstanding == int64(len(ids)) })
	start := time.Now()
	if err := first.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the drain took %v with a 200ms drain timeout", took)
	}
	// Every message was nacked for immediate redelivery.
	for id, m := range e.messages(envelope.EventsTopic) {
		nacked := false
		for _, ma := range m.Modacks {
			nacked = nacked || ma.AckDeadline == 0
		}
		if !nacked || m.Acks != 0 {
			t.Fatalf("event %s: nacked %v, acked %d times; want nacked and not acked", id, nacked, m.Acks)
		}
	}
	e.start(t, warehouse)
	e.waitFor(t, "every event after the restart", 20*time.Second, func() bool { return warehouse.Len() == len(ids) })
}

func TestCrashLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	ids := e.publish(t, 1000)
	// One warehouse survives the crash; it keeps one row per event id.
	warehouse := processortest.New()
	warehouse.SetFault(func(ctx context.Context, _ *sink.Batch) error {
		select { // writes take a while, so some are in flight at the crash
		case <-time.After(20 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	var dead atomic.Bool
	puller := &killable{Puller: processor.NewSubscriptionPuller(e.client, "events")}
	first := e.startWith(t, puller, gated{warehouse, &dead}, nil, processor.WithBatch(50, 1<<20, time.Hour), processor.WithDrainTimeout(100*time.Millisecond))
	e.waitFor(t, "some events written", 10*time.Second, func() bool { return first.p.Stats().Acked >= 200 })
	// The process dies mid-batch: nothing it does reaches Pub/Sub or the
	// warehouse any more, and its leases run out.
	dead.Store(true)
	puller.dead.Store(true)
	_ = first.stop(t)
	acked := first.p.Stats().Acked

	second := e.start(t, warehouse)
	e.waitFor(t, "every event after the restart", 20*time.Second, func() bool { return warehouse.Len() == len(ids) })
	e.waitFor(t, "every message acked", 10*time.Second, func() bool { return acked+second.p.Stats().Acked >= int64(len(ids)) })
	msgs := e.messages(envelope.EventsTopic)
	again := 0
	for _, id := range ids {
		if warehouse.Writes(id) == 0 || msgs[id].Acks == 0 {
			t.Fatalf("event %s lost across the crash: %d writes, %d acks", id, warehouse.Writes(id), msgs[id].Acks)
		}
		if msgs[id].Deliveries > 1 {
			again++
		}
	}
	if again == 0 {
		t.Fatal("no message was redelivered after the crash: the test did not crash mid-batch")
	}
}

func TestRunReturnsNilOnCancelAndOnlyRunsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	r := e.start(t, processortest.New())
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if err := r.p.Run(t.Context()); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("a second Run returned %v, want an error", err)
	}
}
