package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/internal/wire"
	"github.com/hemlabs/hem/registry/schema"
	"github.com/hemlabs/hem/sink"
)

// Schemas resolves schema ids; *registry.Client is one.
type Schemas interface {
	ByID(ctx context.Context, id int64) (*schema.Schema, error)
}

// Stats counts what a processor did since it started.
type Stats struct {
	Received, Written, Acked, Nacked, Failed, Batches int64
}

// Processor consumes one subscription into one sink. Run it once.
type Processor struct {
	cfg     *config
	puller  Puller
	sink    sink.Sink
	schemas Schemas
	failed  FailedPublisher

	outstanding *semaphore.Weighted // messages
	outBytes    *semaphore.Weighted

	mu       sync.Mutex
	held     map[string]*Message // by ack id: pulled, not yet acked or nacked
	attempts map[string]int      // by message id, when Pub/Sub gives no delivery attempt
	batches  map[string]*batch   // by subject
	subjects map[string]*sync.Mutex

	flushes chan *batch
	stats   struct{ received, written, acked, nacked, failed, batches atomic.Int64 }
}

type item struct {
	msg *Message
	ev  *sink.Event
}

type batch struct {
	subject string
	items   []item
	bytes   int64
	started time.Time
}

// New returns a processor pulling with puller into s. failed receives
// permanent failures (it may be nil in failed mode).
func New(puller Puller, s sink.Sink, schemas Schemas, failed FailedPublisher, opts ...Option) (*Processor, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if puller == nil || s == nil || (schemas == nil && !cfg.failedMode) || (failed == nil && !cfg.failedMode) {
		return nil, errors.New("processor: puller, sink, schemas and failed publisher are required")
	}
	return &Processor{
		cfg:         cfg,
		puller:      puller,
		sink:        s,
		schemas:     schemas,
		failed:      failed,
		outstanding: semaphore.NewWeighted(cfg.maxOutstanding),
		outBytes:    semaphore.NewWeighted(cfg.maxOutstandingB),
		held:        map[string]*Message{},
		attempts:    map[string]int{},
		batches:     map[string]*batch{},
		subjects:    map[string]*sync.Mutex{},
		flushes:     make(chan *batch, cfg.maxInFlight),
	}, nil
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (p *Processor) Stats() Stats {
	return Stats{
		Received: p.stats.received.Load(), Written: p.stats.written.Load(), Acked: p.stats.acked.Load(),
		Nacked: p.stats.nacked.Load(), Failed: p.stats.failed.Load(), Batches: p.stats.batches.Load(),
	}
}

// Run pulls until ctx ends, then drains (see the package doc). It returns
// nil after a clean shutdown, or the error that stopped it.
func (p *Processor) Run(ctx context.Context) error {
	// Writes, acks and nacks outlive ctx by up to the drain timeout.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(p.cfg.drainTimeout, cancelWork) })
	defer stopDrain()

	pullers, pctx := errgroup.WithContext(ctx)
	for range p.cfg.pullers {
		pullers.Go(func() error { return p.pull(pctx, work) })
	}
	var writers errgroup.Group
	for range p.cfg.maxInFlight {
		writers.Go(func() error { p.write(work); return nil })
	}
	ageCtx, stopAging := context.WithCancel(work)
	var aging sync.WaitGroup
	aging.Go(func() { p.age(ageCtx) })
	extendCtx, stopExtending := context.WithCancel(work)
	var extending sync.WaitGroup
	extending.Go(func() { p.extend(extendCtx, work) })

	err := pullers.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	// Drain: stop aging, hand every pending batch to the writers, let them
	// finish, then stop extending leases.
	stopAging()
	aging.Wait()
	p.flushAll()
	close(p.flushes)
	_ = writers.Wait()
	stopExtending()
	extending.Wait()
	p.nackHeld(work)
	return err
}

func (p *Processor) pull(ctx, work context.Context) error {
	for ctx.Err() == nil {
		if !p.outstanding.TryAcquire(int64(p.cfg.pullMax)) {
			// Out of room: the held messages sit in batches waiting for their
			// age. Write them now rather than wait, or a slow batch age would
			// cap throughput at max-outstanding per age.
			p.flushAll()
			if err := p.outstanding.Acquire(ctx, int64(p.cfg.pullMax)); err != nil {
				return nil
			}
		}
		msgs, err := p.puller.Pull(ctx, p.cfg.pullMax)
		p.outstanding.Release(int64(p.cfg.pullMax - len(msgs)))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// A failed pull is retried after a pause: the subscription may
			// not exist yet, or Pub/Sub may be briefly unavailable.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		for _, m := range msgs {
			p.stats.received.Add(1)
			if !p.outBytes.TryAcquire(m.size()) {
				p.flushAll() // as above, for bytes
				if err := p.outBytes.Acquire(work, m.size()); err != nil {
					return err
				}
			}
			p.mu.Lock()
			p.held[m.AckID] = m
			p.mu.Unlock()
			p.handle(work, m)
		}
	}
	return nil
}

// handle decodes a message and adds it to its subject's batch.
func (p *Processor) handle(ctx context.Context, m *Message) {
	ev, err := p.decode(ctx, m)
	if err != nil {
		var de *decodeError
		if errors.As(err, &de) {
			p.fail(ctx, m, de.stage, de.reason, de.err)
			return
		}
		p.nack(ctx, []*Message{m})
		return
	}
	subject := ev.Schema.Subject
	p.mu.Lock()
	b := p.batches[subject]
	if b == nil {
		b = &batch{subject: subject, started: p.cfg.now()}
		p.batches[subject] = b
	}
	b.items = append(b.items, item{msg: m, ev: ev})
	b.bytes += int64(len(m.Data))
	full := len(b.items) >= p.cfg.batchCount || b.bytes >= p.cfg.batchBytes
	if full {
		delete(p.batches, subject)
	}
	p.mu.Unlock()
	if full {
		p.flushes <- b
	}
}

// flushAll hands every pending batch to the writers.
func (p *Processor) flushAll() {
	p.mu.Lock()
	pending := make([]*batch, 0, len(p.batches))
	for subject, b := range p.batches {
		delete(p.batches, subject)
		pending = append(pending, b)
	}
	p.mu.Unlock()
	for _, b := range pending {
		p.flushes <- b
	}
}

// age flushes batches older than the batch age.
func (p *Processor) age(ctx context.Context) {
	t := time.NewTicker(max(p.cfg.batchAge/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var due []*batch
		now := p.cfg.now()
		p.mu.Lock()
		for subject, b := range p.batches {
			if now.Sub(b.started) >= p.cfg.batchAge {
				delete(p.batches, subject)
				due = append(due, b)
			}
		}
		p.mu.Unlock()
		for _, b := range due {
			// The writers run until Run closes flushes, which it does only
			// after this goroutine returned, so this send cannot block forever.
			p.flushes <- b
		}
	}
}

// extend keeps the leases of held messages alive.
func (p *Processor) extend(ctx, work context.Context) {
	t := time.NewTicker(p.cfg.ackDeadline / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		ids := make([]string, 0, len(p.held))
		for id := range p.held {
			ids = append(ids, id)
		}
		p.mu.Unlock()
		if len(ids) > 0 {
			_ = p.puller.ModifyAckDeadline(work, ids, int(p.cfg.ackDeadline/time.Second))
		}
	}
}

func (p *Processor) write(ctx context.Context) {
	for b := range p.flushes {
		mu := p.subjectLock(b.subject)
		mu.Lock()
		batch := &sink.Batch{Subject: b.subject, Events: make([]*sink.Event, len(b.items))}
		for i, it := range b.items {
			batch.Events[i] = it.ev
		}
		err := p.sink.Write(ctx, batch)
		mu.Unlock()
		p.stats.batches.Add(1)
		p.settle(ctx, b, err)
	}
}

func (p *Processor) subjectLock(subject string) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	mu := p.subjects[subject]
	if mu == nil {
		mu = &sync.Mutex{}
		p.subjects[subject] = mu
	}
	return mu
}

// settle acks what the sink wrote, dead-letters permanent failures and
// nacks the rest.
func (p *Processor) settle(ctx context.Context, b *batch, err error) {
	var acks, retries []*Message
	for i, it := range b.items {
		e := sink.ErrorFor(err, i)
		switch {
		case e == nil:
			acks = append(acks, it.msg)
			p.stats.written.Add(1)
		case p.cfg.permanent(e):
			p.fail(ctx, it.msg, eventv1.Stage_STAGE_LOAD, eventv1.Reason_REASON_LOAD_REJECTED, e)
		default:
			retries = append(retries, it.msg)
		}
	}
	p.ack(ctx, acks)
	p.nack(ctx, retries)
}

func (p *Processor) ack(ctx context.Context, msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.AckID
	}
	if err := p.puller.Ack(ctx, ids); err != nil {
		// The messages come back after their deadline and are written
		// again; sinks keep one row per event id (the archive keeps both).
		p.release(msgs)
		return
	}
	p.stats.acked.Add(int64(len(msgs)))
	p.mu.Lock()
	for _, m := range msgs {
		delete(p.attempts, m.ID)
	}
	p.mu.Unlock()
	p.release(msgs)
}

// nack asks for redelivery after an exponential backoff per message.
func (p *Processor) nack(ctx context.Context, msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	bySeconds := map[int][]string{}
	p.mu.Lock()
	for _, m := range msgs {
		attempt := m.DeliveryAttempt
		if attempt == 0 {
			p.attempts[m.ID]++
			attempt = p.attempts[m.ID]
		}
		s := int(p.backoff(attempt) / time.Second)
		bySeconds[s] = append(bySeconds[s], m.AckID)
	}
	p.mu.Unlock()
	for s, ids := range bySeconds {
		_ = p.puller.ModifyAckDeadline(ctx, ids, s)
	}
	p.stats.nacked.Add(int64(len(msgs)))
	p.release(msgs)
}

func (p *Processor) backoff(attempt int) time.Duration {
	d := float64(p.cfg.minBackoff) * math.Pow(2, float64(max(attempt-1, 0)))
	return time.Duration(min(d, float64(p.cfg.maxBackoff)))
}

// nackHeld returns every message still held at shutdown for immediate
// redelivery.
func (p *Processor) nackHeld(ctx context.Context) {
	p.mu.Lock()
	var ids []string
	var msgs []*Message
	for id, m := range p.held {
		ids = append(ids, id)
		msgs = append(msgs, m)
	}
	p.mu.Unlock()
	if len(ids) > 0 {
		_ = p.puller.ModifyAckDeadline(ctx, ids, 0)
		p.stats.nacked.Add(int64(len(ids)))
	}
	p.release(msgs)
}

func (p *Processor) release(msgs []*Message) {
	var bytes, n int64
	p.mu.Lock()
	for _, m := range msgs {
		if _, ok := p.held[m.AckID]; ok {
			delete(p.held, m.AckID)
			bytes += m.size()
			n++
		}
	}
	p.mu.Unlock()
	p.outBytes.Release(bytes)
	p.outstanding.Release(n)
}

// fail sends a permanent failure to hem-failed and acks the message once
// that publish succeeded. In failed mode it nacks with the longest backoff.
func (p *Processor) fail(ctx context.Context, m *Message, stage eventv1.Stage, reason eventv1.Reason, cause error) {
	if p.cfg.failedMode {
		p.mu.Lock()
		p.attempts[m.ID] = 1 << 20 // longest backoff
		p.mu.Unlock()
		p.nack(ctx, []*Message{m})
		return
	}
	attempt := m.DeliveryAttempt
	if attempt == 0 {
		p.mu.Lock()
		attempt = p.attempts[m.ID] + 1
		p.mu.Unlock()
	}
	fe := failedEvent(m, stage, reason, cause, attempt, p.cfg.now())
	if err := p.failed.PublishFailed(ctx, fe); err != nil {
		p.nack(ctx, []*Message{m})
		return
	}
	p.stats.failed.Add(1)
	p.ack(ctx, []*Message{m})
}

// failedEvent describes a message that cannot go on. Original is the
// message rebuilt as the hem.event.v1.Event a producer would send, so it
// can be replayed through the collector.
func failedEvent(m *Message, stage eventv1.Stage, reason eventv1.Reason, cause error, attempt int, now time.Time) *eventv1.FailedEvent {
	env, _ := wire.Decode(m.Attributes) // best effort: fields may be missing
	subject := m.Attributes[wire.AttrType]
	original := &eventv1.Event{
		EventId:    m.Attributes[wire.AttrEventID],
		Payload:    &anypb.Any{TypeUrl: "type.googleapis.com/" + subject, Value: m.Data},
		Attributes: env.Attributes,
		SchemaId:   env.SchemaID,
	}
	if !env.EventTime.IsZero() {
		original.EventTime = timestamppb.New(env.EventTime)
	}
	raw, _ := proto.Marshal(original)
	return &eventv1.FailedEvent{
		Stage:    stage,
		Reason:   reason,
		Message:  cause.Error(),
		Type:     subject,
		SchemaId: env.SchemaID,
		EventId:  original.EventId,
		Producer: m.Attributes[wire.AttrProducer],
		Attempts: int32(attempt),
		FailedAt: timestamppb.New(now),
		Original: raw,
	}
}

// decodeError is a message that can never be decoded.
type decodeError struct {
	stage  eventv1.Stage
	reason eventv1.Reason
	err    error
}

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

func (p *Processor) decode(ctx context.Context, m *Message) (*sink.Event, error) {
	if p.cfg.failedMode {
		return decodeFailed(m)
	}
	env, err := wire.Decode(m.Attributes)
	if err != nil {
		return nil, &decodeError{eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_INVALID_ENVELOPE, err}
	}
	s, err := p.schemas.ByID(ctx, env.SchemaID)
	if err != nil {
		if p.cfg.permanent(err) {
			return nil, &decodeError{eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_SCHEMA_NOT_FOUND, fmt.Errorf("schema id %d: %w", env.SchemaID, err)}
		}
		return nil, fmt.Errorf("schema id %d: %w", env.SchemaID, err)
	}
	if s.Subject != env.Type {
		return nil, &decodeError{eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_SCHEMA_NOT_FOUND,
			fmt.Errorf("schema id %d is %s, but the event says it is a %s", env.SchemaID, s.Subject, env.Type)}
	}
	msg := s.NewMessage()
	if err := proto.Unmarshal(m.Data, msg); err != nil {
		return nil, &decodeError{eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_DECODE_FAILED, fmt.Errorf("payload is not a %s (schema id %d): %w", s.Subject, s.ID, err)}
	}
	if hasUnknown(msg) {
		return nil, &decodeError{eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_UNKNOWN_FIELDS, fmt.Errorf("payload has fields %s (schema id %d) does not know", s.Subject, s.ID)}
	}
	return &sink.Event{
		ID:          env.EventID,
		Schema:      s,
		Payload:     m.Data,
		Message:     msg,
		EventTime:   env.EventTime,
		ReceivedAt:  env.ReceivedAt,
		PublishedAt: m.PublishTime,
		Producer:    env.Producer,
		Attributes:  env.Attributes,
	}, nil
}

func decodeFailed(m *Message) (*sink.Event, error) {
	s := schema.FailedEventSchema()
	msg := s.NewMessage()
	if err := proto.Unmarshal(m.Data, msg); err != nil {
		return nil, &decodeError{eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_DECODE_FAILED, fmt.Errorf("not a hem.event.v1.FailedEvent: %w", err)}
	}
	fe, _ := wire.DecodeFailed(m.Data) // decodes: the dynamic message above did
	ev := &sink.Event{
		// Two failures of one event are two rows: the message id, not the
		// event id, identifies a failure.
		ID:          m.ID,
		Schema:      s,
		Payload:     m.Data,
		Message:     msg,
		EventTime:   fe.GetFailedAt().AsTime(),
		PublishedAt: m.PublishTime,
		Producer:    fe.GetProducer(),
	}
	if fe.GetFailedAt() == nil {
		ev.EventTime = m.PublishTime
	}
	return ev, nil
}
