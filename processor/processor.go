package processor

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/sink"
)

const (
	// minLease is Pub/Sub's shortest ack deadline: a pulled message is
	// assumed to expire this long after the pull, whatever the
	// subscription says, and is extended before it does.
	minLease = 10 * time.Second
	// leaseMargin is how long before its expiry a lease is extended.
	leaseMargin = 5 * time.Second
	// leaseTick is how often leases are checked.
	leaseTick = 250 * time.Millisecond
)

// Processor consumes one subscription into one sink. Create it with New and
// call Run once. Stats and Ready may be called from any goroutine at any
// time.
type Processor struct {
	cfg     *config
	puller  Puller
	sink    sink.Sink
	schemas Schemas
	parsers parsers
	failed  FailedPublisher
	metrics *metrics
	// payloadOnly: the sink reads payloads, not decoded messages.
	payloadOnly bool
	log         *slog.Logger

	outstanding *semaphore.Weighted // messages held
	outBytes    *semaphore.Weighted // bytes held
	failing     *semaphore.Weighted // failed-event publishes in flight
	failures    sync.WaitGroup
	sched       *scheduler
	// Messages and bytes in closed batches (queued or being written): room
	// that will come back without closing more batches.
	pendingMsgs, pendingBytes atomic.Int64

	mu     sync.Mutex
	leases map[string]*lease // by ack id: pulled, neither acked nor nacked
	// firstExpiry is no later than the earliest lease expiry, so that
	// keepLeases skips its scan of every lease until one is due.
	firstExpiry time.Time
	attempts    map[string]*attempt // by message id, when Pub/Sub counts no delivery attempts
	open        map[string]*batch   // by subject
	warned      map[string]time.Time

	started  atomic.Bool
	draining atomic.Bool
	pullErr  atomic.Pointer[error]
	stats    counters
}

type lease struct {
	msg     *Message
	bytes   int64 // of outBytes charged to it
	expires time.Time
}

type attempt struct {
	failures int
	last     time.Time
}

var errNoPullYet = errors.New("processor: no pull has succeeded yet")

// New returns a processor that pulls with puller, decodes with schemas and
// writes to s. failed receives permanent failures; in failed mode
// (WithFailedMode) schemas and failed may be nil.
func New(puller Puller, s sink.Sink, schemas Schemas, failed FailedPublisher, opts ...Option) (*Processor, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if puller == nil || s == nil || (!cfg.failedMode && (schemas == nil || failed == nil)) {
		return nil, errors.New("processor: puller, sink, schemas and failed publisher are required")
	}
	p := &Processor{
		cfg:         cfg,
		puller:      puller,
		sink:        s,
		schemas:     schemas,
		failed:      failed,
		log:         cfg.logger,
		outstanding: semaphore.NewWeighted(cfg.maxOutstanding),
		outBytes:    semaphore.NewWeighted(cfg.maxOutstandingB),
		failing:     semaphore.NewWeighted(cfg.maxFailing),
		sched:       newScheduler(cfg.maxInFlight),
		leases:      map[string]*lease{},
		attempts:    map[string]*attempt{},
		open:        map[string]*batch{},
		warned:      map[string]time.Time{},
	}
	if ps, ok := s.(sink.PayloadSink); ok {
		p.payloadOnly = ps.PayloadOnly()
	}
	first := errNoPullYet
	p.pullErr.Store(&first)
	if p.metrics, err = newMetrics(cfg.meter, cfg.name, &p.stats); err != nil {
		return nil, err
	}
	return p, nil
}

// Stats returns a snapshot of the counters.
func (p *Processor) Stats() Stats {
	s := &p.stats
	return Stats{
		Received: s.received.Load(), Written: s.written.Load(), Acked: s.acked.Load(),
		Nacked: s.nacked.Load(), Failed: s.failed.Load(), Refused: s.refused.Load(),
		Batches: s.batches.Load(), Outstanding: s.outstanding.Load(),
	}
}

// Ready returns nil when the last Pull succeeded, else why it failed (or
// that none has succeeded yet): a readiness probe.
func (p *Processor) Ready() error {
	if err := p.pullErr.Load(); err != nil {
		return *err
	}
	return nil
}

// Run pulls until ctx ends, then drains: it stops pulling, writes the
// pending batches with a context that ends WithDrainTimeout later, acks
// what was written and nacks everything else for prompt redelivery. It
// blocks until then and returns nil after a clean shutdown. Run may be
// called once.
func (p *Processor) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("processor: Run called twice")
	}
	defer func() { _ = p.metrics.reg.Unregister() }()
	// Acks, nacks and lease extensions outlive ctx until Run returns; each
	// call has its own timeout.
	rpc, stopRPC := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRPC()
	// Sink writes and failed-event publishes outlive ctx by the drain
	// timeout.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	stopTimer := context.AfterFunc(ctx, func() {
		p.draining.Store(true)
		time.AfterFunc(p.cfg.drainTimeout, stopWork)
	})
	defer stopTimer()

	leaseCtx, stopLeases := context.WithCancel(rpc)
	var leasing sync.WaitGroup
	leasing.Go(func() { p.keepLeases(leaseCtx, rpc) })
	var aging sync.WaitGroup
	aging.Go(func() { p.age(ctx) })
	var writers sync.WaitGroup
	for range p.cfg.maxInFlight {
		writers.Go(func() { p.write(work, rpc) })
	}
	pullers, pullCtx := errgroup.WithContext(ctx)
	for range p.cfg.pullers {
		pullers.Go(func() error { return p.pull(pullCtx, work, rpc) })
	}
	err := pullers.Wait()

	// Drain: close the open batches, let the writers finish every closed
	// one, wait for failed-event publishes, then give back what is held.
	aging.Wait()
	p.closeAll()
	p.sched.close()
	writers.Wait()
	p.failures.Wait()
	stopLeases()
	leasing.Wait()
	p.nackHeld(rpc)
	return err
}

func (p *Processor) pull(ctx, work, rpc context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		n := int64(p.cfg.pullMax)
		if !p.outstanding.TryAcquire(n) {
			p.makeRoom(n, &p.pendingMsgs)
			if p.outstanding.Acquire(ctx, n) != nil {
				return nil
			}
		}
		msgs, err := p.puller.Pull(ctx, p.cfg.pullMax)
		if extra := len(msgs) - p.cfg.pullMax; extra > 0 { // more than asked for
			p.rpcCall(rpc, "nack", func(ctx context.Context) error {
				return p.puller.ModifyAckDeadline(ctx, ackIDs(msgs[p.cfg.pullMax:]), 0)
			})
			msgs = msgs[:p.cfg.pullMax]
		}
		p.outstanding.Release(n - int64(len(msgs)))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			p.pullErr.Store(&err)
			p.warn("pull", "pull failed; retrying", "attempt", failures, "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(min(100*time.Millisecond<<min(failures-1, 10), 10*time.Second)):
			}
			continue
		}
		failures = 0
		p.pullErr.Store(nil)
		if len(msgs) == 0 {
			continue
		}
		p.hold(msgs)
		if !p.chargeBytes(ctx, msgs) {
			return nil // the leases stay held; Run nacks them
		}
		for _, m := range msgs {
			p.handle(work, rpc, m)
		}
	}
	return nil
}

// makeRoom closes the open batches when the closed ones will not free
// enough room: held messages may sit in open batches waiting for their age,
// and a long batch age would otherwise cap throughput at the outstanding
// bound per age.
func (p *Processor) makeRoom(need int64, pending *atomic.Int64) {
	if pending.Load() < need {
		p.closeAll()
	}
}

// hold leases freshly pulled messages.
func (p *Processor) hold(msgs []*Message) {
	expires := p.cfg.now().Add(minLease)
	ls := make([]lease, len(msgs)) // one allocation for the pull's leases
	p.mu.Lock()
	for i, m := range msgs {
		ls[i] = lease{msg: m, expires: expires}
		p.leases[m.AckID] = &ls[i]
	}
	if len(p.leases) == len(msgs) || expires.Before(p.firstExpiry) {
		p.firstExpiry = expires
	}
	p.mu.Unlock()
	p.stats.received.Add(int64(len(msgs)))
	p.stats.outstanding.Add(int64(len(msgs)))
	p.metrics.count(context.Background(), "received", len(msgs))
}

// chargeBytes takes the messages' bytes from the byte bound, waiting for
// room. A response larger than the bound is charged the bound.
func (p *Processor) chargeBytes(ctx context.Context, msgs []*Message) bool {
	var want int64
	for _, m := range msgs {
		want += m.size()
	}
	want = min(want, p.cfg.maxOutstandingB)
	if !p.outBytes.TryAcquire(want) {
		p.makeRoom(want, &p.pendingBytes)
		if p.outBytes.Acquire(ctx, want) != nil {
			return false
		}
	}
	left := want
	p.mu.Lock()
	for _, m := range msgs {
		if l := p.leases[m.AckID]; l != nil {
			l.bytes = min(m.size(), left)
			left -= l.bytes
		}
	}
	p.mu.Unlock()
	p.outBytes.Release(left)
	return true
}

// handle decodes a message and adds it to its subject's open batch.
func (p *Processor) handle(work, rpc context.Context, m *Message) {
	var ev *sink.Event
	var err error
	if p.cfg.failedMode {
		ev, err = decodeFailed(m)
	} else {
		ev, err = decode(work, p.schemas, &p.parsers, p.cfg.permanent, m, p.payloadOnly)
	}
	if err != nil {
		var de *decodeError
		if errors.As(err, &de) {
			p.fail(work, rpc, m, eventv1.Stage_STAGE_DECODE, de.reason, de.err)
			return
		}
		p.warn("schema", "cannot resolve a schema; retrying later", "error", err)
		p.nack(rpc, []*Message{m})
		return
	}
	subject := ev.Schema.Subject
	p.mu.Lock()
	b := p.open[subject]
	if b == nil {
		b = &batch{subject: subject, opened: p.cfg.now()}
		p.open[subject] = b
	}
	b.msgs = append(b.msgs, m)
	b.events = append(b.events, ev)
	b.bytes += int64(len(m.Data))
	full := len(b.msgs) >= p.cfg.batchCount || b.bytes >= p.cfg.batchBytes
	if full {
		delete(p.open, subject)
	}
	p.mu.Unlock()
	if full {
		p.close(b)
	}
}

// close hands a batch to the writers, waiting while too many are queued.
func (p *Processor) close(b *batch) {
	p.pendingMsgs.Add(int64(len(b.msgs)))
	p.pendingBytes.Add(p.chargedBytes(b.msgs))
	p.sched.put(b)
}

func (p *Processor) chargedBytes(msgs []*Message) int64 {
	var n int64
	p.mu.Lock()
	for _, m := range msgs {
		if l := p.leases[m.AckID]; l != nil {
			n += l.bytes
		}
	}
	p.mu.Unlock()
	return n
}

// closeAll closes every open batch.
func (p *Processor) closeAll() {
	p.mu.Lock()
	all := make([]*batch, 0, len(p.open))
	for subject, b := range p.open {
		delete(p.open, subject)
		all = append(all, b)
	}
	p.mu.Unlock()
	for _, b := range all {
		p.close(b)
	}
}

// age closes batches older than the batch age, until ctx ends.
func (p *Processor) age(ctx context.Context) {
	t := time.NewTicker(min(max(p.cfg.batchAge/10, 5*time.Millisecond), 250*time.Millisecond))
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
		for subject, b := range p.open {
			if now.Sub(b.opened) >= p.cfg.batchAge {
				delete(p.open, subject)
				due = append(due, b)
			}
		}
		p.mu.Unlock()
		for _, b := range due {
			p.close(b)
		}
	}
}

// keepLeases extends held messages before they expire, and forgets the
// failure counts of messages not seen for long.
func (p *Processor) keepLeases(ctx, rpc context.Context) {
	t := time.NewTicker(leaseTick)
	defer t.Stop()
	pruned := p.cfg.now()
	seconds := int(p.cfg.ackDeadline / time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := p.cfg.now()
		var ids []string
		p.mu.Lock()
		if len(p.leases) > 0 && p.firstExpiry.Sub(now) < leaseMargin {
			first := now.Add(p.cfg.ackDeadline)
			for id, l := range p.leases {
				if l.expires.Sub(now) < leaseMargin {
					l.expires = now.Add(p.cfg.ackDeadline)
					ids = append(ids, id)
				}
				if l.expires.Before(first) {
					first = l.expires
				}
			}
			p.firstExpiry = first
		}
		if now.Sub(pruned) > time.Minute {
			pruned = now
			forget := 2*p.cfg.maxBackoff + p.cfg.ackDeadline
			for id, a := range p.attempts {
				if now.Sub(a.last) > forget {
					delete(p.attempts, id)
				}
			}
		}
		p.mu.Unlock()
		if len(ids) > 0 {
			p.rpcCall(rpc, "extend", func(ctx context.Context) error { return p.puller.ModifyAckDeadline(ctx, ids, seconds) })
		}
	}
}

func (p *Processor) write(work, rpc context.Context) {
	for b := p.sched.take(); b != nil; b = p.sched.take() {
		start := time.Now()
		err := writeBatch(work, p.sink, b.subject, b.events)
		p.sched.done(b.subject)
		p.stats.batches.Add(1)
		p.metrics.batch(rpc, b.subject, time.Since(start), err)
		if err != nil {
			p.warn("write:"+b.subject, "sink write failed", "type", b.subject, "events", len(b.events), "error", err)
		}
		charged := p.chargedBytes(b.msgs)
		p.settle(work, rpc, b, err)
		p.pendingMsgs.Add(-int64(len(b.msgs)))
		p.pendingBytes.Add(-charged)
	}
}

// writeBatch writes events to s, except a later event of an id the batch
// already holds with another payload: that one fails with
// sink.DuplicateID whether or not the sink compares payloads itself.
func writeBatch(ctx context.Context, s sink.Sink, subject string, events []*sink.Event) error {
	keep, differ := sink.FirstOfEachID(events)
	if len(differ) == 0 {
		return s.Write(ctx, &sink.Batch{Subject: subject, Events: events})
	}
	kept := make([]*sink.Event, len(keep))
	for k, i := range keep {
		kept[k] = events[i]
	}
	err := s.Write(ctx, &sink.Batch{Subject: subject, Events: kept})
	at := make(map[string]int, len(keep)) // id → its first event's place in kept
	for k, i := range keep {
		at[events[i].ID] = k
	}
	failed := differ
	for i, e := range events {
		if _, ok := differ[i]; ok {
			continue
		}
		// An identical later copy shares its first one's fate.
		if err := sink.ErrorFor(err, at[e.ID]); err != nil {
			failed[i] = err
		}
	}
	return &sink.BatchError{Failed: failed}
}

// settle acks what the sink wrote, dead-letters permanent failures and
// nacks the rest.
func (p *Processor) settle(work, rpc context.Context, b *batch, err error) {
	var acks, retries []*Message
	for i, m := range b.msgs {
		e := sink.ErrorFor(err, i)
		switch {
		case e == nil:
			acks = append(acks, m)
		case p.cfg.permanent(e):
			reason := eventv1.Reason_REASON_LOAD_REJECTED
			if errors.Is(e, sink.ErrDuplicateID) {
				reason = eventv1.Reason_REASON_DUPLICATE_ID_DIFFERENT_PAYLOAD
			}
			p.fail(work, rpc, m, eventv1.Stage_STAGE_LOAD, reason, e)
		default:
			retries = append(retries, m)
		}
	}
	p.stats.written.Add(int64(len(acks)))
	p.ack(rpc, acks)
	p.nack(rpc, retries)
}

// fail sends a permanent failure to hem-failed and acks the message once
// that publish succeeded; if it did not, the message is nacked and fails
// again later. It does not wait for the publish. In failed mode there is
// nowhere further to send it: it is nacked with the longest backoff.
func (p *Processor) fail(work, rpc context.Context, m *Message, stage eventv1.Stage, reason eventv1.Reason, cause error) {
	if p.cfg.failedMode {
		p.stats.refused.Add(1)
		p.metrics.count(rpc, "refused", 1)
		p.warn("refused", "a failed event cannot be stored; nacked with the longest backoff", "message_id", m.ID, "error", cause)
		p.modack(rpc, []*Message{m}, int(p.cfg.maxBackoff/time.Second))
		return
	}
	if p.failing.Acquire(work, 1) != nil {
		p.nack(rpc, []*Message{m}) // draining ran out of time
		return
	}
	fe := failedEvent(m, stage, reason, cause, p.attempt(m, false), p.cfg.now())
	p.failures.Go(func() {
		defer p.failing.Release(1)
		if err := p.failed.PublishFailed(work, fe); err != nil {
			p.warn("publish-failed", "cannot publish a failed event; retrying later", "event_id", fe.GetEventId(), "error", err)
			p.nack(rpc, []*Message{m})
			return
		}
		p.stats.failed.Add(1)
		p.metrics.count(rpc, "failed", 1)
		p.ack(rpc, []*Message{m})
	})
}

// attempt returns the delivery attempt of m: Pub/Sub's count when the
// subscription has a dead-letter policy, else one more than the failures
// this processor saw (recording one more when failing).
func (p *Processor) attempt(m *Message, failing bool) int {
	if m.DeliveryAttempt > 0 {
		return m.DeliveryAttempt
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.attempts[m.ID]
	if a == nil {
		if !failing {
			return 1
		}
		a = &attempt{}
		p.attempts[m.ID] = a
	}
	n := a.failures + 1
	if failing {
		a.failures++
		a.last = p.cfg.now()
	}
	return n
}

func (p *Processor) backoff(attempt int) time.Duration {
	d := float64(p.cfg.minBackoff) * math.Pow(2, float64(max(attempt-1, 0)))
	return time.Duration(min(d, float64(p.cfg.maxBackoff)))
}

func (p *Processor) ack(rpc context.Context, msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	ok := p.rpcCall(rpc, "ack", func(ctx context.Context) error { return p.puller.Ack(ctx, ackIDs(msgs)) })
	if ok {
		// Otherwise the messages come back after their deadline and are
		// written again: sinks keep one row per event id.
		p.stats.acked.Add(int64(len(msgs)))
		p.metrics.count(rpc, "acked", len(msgs))
		p.mu.Lock()
		for _, m := range msgs {
			delete(p.attempts, m.ID)
		}
		p.mu.Unlock()
	}
	p.release(msgs)
}

// nack asks for redelivery after each message's backoff, or at once while
// draining, so that another replica takes over.
func (p *Processor) nack(rpc context.Context, msgs []*Message) {
	bySeconds := map[int][]*Message{}
	draining := p.draining.Load()
	for _, m := range msgs {
		s := int(p.backoff(p.attempt(m, true)) / time.Second)
		if draining {
			s = 0
		}
		bySeconds[s] = append(bySeconds[s], m)
	}
	for s, ms := range bySeconds {
		p.modack(rpc, ms, s)
	}
}

// modack makes messages available again in seconds and lets go of them.
func (p *Processor) modack(rpc context.Context, msgs []*Message, seconds int) {
	if len(msgs) == 0 {
		return
	}
	// If the call fails, they come back at their current deadline anyway.
	p.rpcCall(rpc, "nack", func(ctx context.Context) error { return p.puller.ModifyAckDeadline(ctx, ackIDs(msgs), seconds) })
	p.stats.nacked.Add(int64(len(msgs)))
	p.metrics.count(rpc, "nacked", len(msgs))
	p.release(msgs)
}

// nackHeld returns every message still held at shutdown for immediate
// redelivery.
func (p *Processor) nackHeld(rpc context.Context) {
	p.mu.Lock()
	msgs := make([]*Message, 0, len(p.leases))
	for _, l := range p.leases {
		msgs = append(msgs, l.msg)
	}
	p.mu.Unlock()
	p.modack(rpc, msgs, 0)
}

// release lets go of settled messages and gives their room back.
func (p *Processor) release(msgs []*Message) {
	var bytes, n int64
	p.mu.Lock()
	for _, m := range msgs {
		if l, ok := p.leases[m.AckID]; ok {
			delete(p.leases, m.AckID)
			bytes += l.bytes
			n++
		}
	}
	p.mu.Unlock()
	p.outBytes.Release(bytes)
	p.outstanding.Release(n)
	p.stats.outstanding.Add(-n)
}

// rpcCall runs an ack, nack or extension call with its own timeout and
// reports whether it succeeded.
func (p *Processor) rpcCall(rpc context.Context, what string, call func(ctx context.Context) error) bool {
	ctx, cancel := context.WithTimeout(rpc, p.cfg.rpcTimeout)
	defer cancel()
	if err := call(ctx); err != nil {
		p.warn(what, what+" failed; the messages come back at their deadline", "error", err)
		return false
	}
	return true
}

// warn logs at most once per 10 s per kind, so an outage does not flood
// the log.
func (p *Processor) warn(kind, msg string, args ...any) {
	now := time.Now()
	p.mu.Lock()
	last, seen := p.warned[kind]
	if seen && now.Sub(last) < 10*time.Second {
		p.mu.Unlock()
		return
	}
	p.warned[kind] = now
	p.mu.Unlock()
	p.log.Warn("processor: "+msg, args...)
}

func ackIDs(msgs []*Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.AckID
	}
	return ids
}
