// Package collector is hem's ingestion service: producers send batches of
// hem.event.v1.Event over gRPC (Collect, CollectStream) or HTTP/JSON
// (POST /v1/events), and the collector authenticates them, checks sizes,
// resolves each payload's schema in the registry, decodes it, rejects unknown
// fields, runs the contract's protovalidate rules, applies its PII handling,
// stamps metadata and publishes it to the hem-events topic.
//
// That per-event core is Ingest; the gRPC and HTTP endpoints are edges over
// it (they authenticate, charge and read a request, and hand Ingest the
// events they read and the ones they could not), and so is any other
// source of events (files, a replay).
//
// An event is ACCEPTED only after Pub/Sub confirmed its publish. An event
// that can never be accepted is REJECTED with a reason and its violations,
// and is also published to hem-failed as a hem.event.v1.FailedEvent (only
// once that publish is confirmed is the rejection final). Whole requests are
// refused when the caller is not authenticated (UNAUTHENTICATED, nothing
// published), may not send one of the types (PERMISSION_DENIED, nothing
// published), the batch breaks the limits (INVALID_ARGUMENT) or the
// collector has too many bytes in flight (RESOURCE_EXHAUSTED).
//
// # Failed events and PII
//
// What a FailedEvent keeps of the payload honours the contract's PII
// handling, as hem-events does: a payload that decodes is kept with its
// HASH/REDACT/DROP applied (fields the contract does not know left out) and
// the original is marked hem-pii=applied; a payload of a contract with PII
// fields that does not decode is not kept at all (the FailedEvent's message
// says so, and the producer must send it again); a payload of a contract
// without PII fields, or of an unknown type, is kept as sent. A replay
// (hem replay --failed) sends the original back: with the marker, the
// collector keeps values that already look hashed and does not check the
// rules of PII fields again, so a fixed event is accepted as if it had been
// right the first time. The marker cannot put clear values through: what
// does not look hashed is hashed, and redacting and dropping repeat.
// Encrypted fields (PII_HANDLING_ENCRYPT*) are kept encrypted the same way;
// on replay a value that decrypts with its field's key is kept, anything
// else is encrypted (see crypt.go for the keys and their rejections).
//
// # Outages
//
// When Pub/Sub (or the registry) cannot be reached, the affected events are
// answered EVENT_STATUS_RETRY one by one, while the events of the same batch
// that did get through are ACCEPTED: the producer resends exactly the RETRY
// events with the same event ids. A publish that timed out may still land
// later, so the warehouse can see an id twice; sinks keep one row per event
// id. Nothing is ever reported ACCEPTED that Pub/Sub has not confirmed.
//
// The hot path is precomputed per schema id (a plan: message type,
// validator, PII field paths, entity key field) and cached copy-on-write.
//
// # Decoding, and a bug in hyperpb
//
// Payloads are decoded with hyperpb (buf.build/go/hyperpb) when
// wire.Known cleared them (every field declared, with its wire type, no
// group) and with protobuf-go otherwise. hyperpb v0.1.3 reads past the end
// of its input while it skips an unknown group that is not terminated
// (internal/tdp/vm/run.go, skipRecord: its loop reads the next tag with
// Varint, which assumes at least one byte is left, and never checks). The
// payload "SSSSSSSS" (eight start-group tags of field 10) is answered
// "parser error at offset 9" on 8 bytes; a Collect batch of 2–10 events
// alternating that payload and "R\x80\x80\x80\x80\x01SS" read into the
// next heap objects and killed the process with SIGSEGV. The processor had
// the same gate for the same reason; both now share wire.Known. The fuzz
// targets place every input inside a larger buffer so that over-reads of
// this class are found. Drop the gate only for a hyperpb release that fixed
// this, with TestUnterminatedGroupsDoNotCrash and FuzzProcess passing.
package collector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2"
	"github.com/google/uuid"
	"golang.org/x/sync/semaphore"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// Schemas resolves contracts; *registry.Client satisfies it. Latest returns
// the latest usable version of a subject. Both return an error matching
// registry.ErrNotFound or ErrSchemaNotFound (or carrying gRPC code
// NOT_FOUND) when the subject or id does not exist; any other error is
// taken as transient (the event is answered RETRY).
type Schemas interface {
	Latest(ctx context.Context, subject string) (*contract.Schema, error)
	ByID(ctx context.Context, id int64) (*contract.Schema, error)
}

// Collector validates and publishes events. It is safe for concurrent use;
// one Collector serves every gRPC and HTTP request of a process.
type Collector struct {
	cfg       *config
	schemas   Schemas
	events    *pubsub.Publisher
	failed    *pubsub.Publisher
	plans     plans
	missing   *missing // subjects and ids the registry did not know
	quotas    quotas   // each producer's rate and share of inflight
	hasher    *codec.Hasher
	inflight  *semaphore.Weighted
	metrics   *metrics
	closed    atomic.Bool
	closeOnce sync.Once
	stopped   chan struct{} // closed when the publishers have stopped
	work      chan func()   // the hot path runs on workers, see runWorkers
	quit      chan struct{} // closed by Close: workers stop
	health    healthSetter
	// apiKeys remembers keys the keyring accepted, so a request costs a map
	// lookup rather than a SHA-256. Only accepted keys enter it, so it is
	// bounded by the keyring; it is dropped whenever the keyring changes
	// (a reloaded keys file), so a revoked key is refused from then on.
	apiKeys atomic.Pointer[keyCache]
}

// keyCache is what one generation of the keyring accepted.
type keyCache struct {
	gen uint64
	m   sync.Map // raw API key → *auth.Principal
}

// New builds a collector publishing with ps. Options WithKeyring and
// WithPIISalt are required.
func New(schemas Schemas, ps *pubsub.Client, opts ...Option) (*Collector, error) {
	if schemas == nil || ps == nil {
		return nil, errors.New("collector: schemas and Pub/Sub client are required")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.meter)
	if err != nil {
		return nil, fmt.Errorf("collector: metrics: %w", err)
	}
	c := &Collector{
		cfg:      cfg,
		schemas:  schemas,
		events:   ps.Publisher(cfg.eventsTopic),
		failed:   ps.Publisher(cfg.failedTopic),
		hasher:   codec.NewHasher(cfg.salt),
		inflight: semaphore.NewWeighted(cfg.maxInflightBytes),
		missing:  newMissing(),
		metrics:  m,
		stopped:  make(chan struct{}),
		work:     make(chan func()),
		quit:     make(chan struct{}),
	}
	c.runWorkers(runtime.GOMAXPROCS(0))
	c.events.PublishSettings = cfg.publish
	c.events.EnableMessageOrdering = true
	c.failed.PublishSettings = cfg.publish
	return c, nil
}

// Close stops taking requests, flushes the publishers and waits for them
// until ctx is done.
func (c *Collector) Close(ctx context.Context) error {
	c.closed.Store(true)
	if c.health != nil {
		c.health.shutdown()
	}
	c.closeOnce.Do(func() {
		close(c.quit)
		go func() {
			defer close(c.stopped)
			var wg sync.WaitGroup
			wg.Go(c.events.Stop)
			wg.Go(c.failed.Stop)
			wg.Wait()
		}()
	})
	select {
	case <-c.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("collector: close: %w", ctx.Err())
	}
}

// Ready reports whether the collector takes requests.
func (c *Collector) Ready() bool { return !c.closed.Load() }

// batchBytes is what a request weighs against the limits and the in-flight
// budget: payloads, attributes and ids.
func batchBytes(in []Input) int {
	n := 0
	for i := range in {
		e := in[i].Event
		n += len(e.GetPayload().GetValue()) + len(e.GetPayload().GetTypeUrl()) + len(e.GetEventId()) + 32
		for k, v := range e.GetAttributes() {
			n += len(k) + len(v)
		}
	}
	return n
}

// errOverloaded refuses a request the in-flight budget has no room for.
func errOverloaded() error {
	return &retryAfterError{err: fmt.Errorf("%w: too many bytes in flight, retry later", ErrOverloaded), after: overloadRetry}
}

// subjectOf is the subject named by the event's payload type URL.
func subjectOf(e *eventv1.Event) string { return codec.TypeName(e.GetPayload().GetTypeUrl()) }

// charged says what an edge charged for a request before calling collect.
type charged int

const (
	// chargedNothing: collect charges the request's bytes to the producer's
	// share and to the in-flight budget.
	chargedNothing charged = iota
	// chargedBudget: the edge charged the in-flight budget (HTTP, before
	// reading the body); collect charges the producer's share.
	chargedBudget
	// chargedAll: the edge charged both (gRPC, before decoding).
	chargedAll
)

// collect is Ingest for what the edge charged already (ch).
func (c *Collector) collect(ctx context.Context, p *auth.Principal, in []Input, ch charged) ([]*collectorv1.EventResult, error) {
	arrived := time.Now()
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := c.checkRequest(ctx, p, len(in), func(i int) string { return subjectOf(in[i].Event) }); err != nil {
		return nil, err
	}
	lim := c.cfg.limits
	size := batchBytes(in)
	if size > lim.MaxBatchBytes {
		c.metrics.refused(ctx, "batch_too_large")
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d per request", ErrBatchTooLarge, size, lim.MaxBatchBytes)
	}
	if ch == chargedAll {
		err := c.quotas.admitRate(p, len(in), lim, time.Now())
		if err != nil {
			c.metrics.refused(ctx, "quota")
			return nil, err
		}
	} else {
		release, err := c.quotas.admit(p, len(in), size, lim, c.cfg.maxInflightBytes, time.Now())
		if err != nil {
			c.metrics.refused(ctx, "quota")
			return nil, err
		}
		defer release()
	}
	if ch == chargedNothing {
		if !c.inflight.TryAcquire(int64(size)) {
			c.metrics.refused(ctx, "overloaded")
			return nil, errOverloaded()
		}
		defer c.inflight.Release(int64(size))
	}

	results, labels, pending, err := c.prepareAll(ctx, p, in, true, nil)
	if err != nil {
		return nil, err
	}
	for i := range pending {
		pp := &pending[i]
		pp.started = time.Now()
		if pp.failed {
			pp.handle = c.failed.Publish(ctx, pp.msg)
		} else {
			pp.handle = c.events.Publish(ctx, pp.msg)
		}
	}
	for i := range pending {
		c.await(ctx, &pending[i])
	}
	c.metrics.answeredEvents(ctx, results, labels)
	c.metrics.answered(ctx, labels, time.Since(arrived))
	for _, r := range results {
		sanitizeResult(r)
	}
	return results, nil
}

// prepareAll runs the per-event core (prepare) over in on a worker: the
// one path of Ingest and Check. With publish, it returns the messages to
// publish; without, it builds none (Check), and with keep (one per
// input) it keeps what it would publish of each accepted input there.
func (c *Collector) prepareAll(ctx context.Context, p *auth.Principal, in []Input, publish bool, keep []Prepared) (results []*collectorv1.EventResult, labels []string, pending []pendingPublish, err error) {
	now := c.cfg.now()
	results = make([]*collectorv1.EventResult, len(in))
	// Metrics are labelled with the subject hem resolved, never with a
	// name the producer chose: those would make the label set unbounded.
	labels = make([]string, len(in))
	if publish {
		pending = make([]pendingPublish, 0, len(in))
	}
	res := resolver{c: c, ctx: ctx}
	err = c.onWorker(ctx, func() {
		var scratch []byte // Check encodes every payload into the same buffer
		for i := range in {
			pp := c.prepare(&res, p, &in[i], now, scratch, publish)
			pp.index = i
			results[i] = pp.result
			labels[i] = pp.resolved
			if pp.msg != nil {
				pending = append(pending, pp)
			}
			switch {
			case publish || pp.data == nil:
			case keep != nil:
				n := len(pp.data)
				keep[i] = Prepared{Data: pp.data[:n:n], EntityKey: pp.key}
				if !pp.given {
					scratch = pp.data[n:] // the next payload is encoded after this one
				}
			case !pp.given:
				scratch = pp.data[:0]
			}
		}
	})
	return results, labels, pending, err
}

// checkRequest refuses a request of n events, whose i-th names subject(i),
// for what needs no decoding and no registry: more events than the limit,
// or a type the producer may not send. Every edge runs it before any other
// work, so a refused request costs next to nothing.
func (c *Collector) checkRequest(ctx context.Context, p *auth.Principal, n int, subject func(i int) string) error {
	if n > c.cfg.limits.MaxBatchEvents {
		c.metrics.refused(ctx, "batch_too_large")
		return fmt.Errorf("%w: %d events, the limit is %d per request", ErrBatchTooLarge, n, c.cfg.limits.MaxBatchEvents)
	}
	allowed := "" // most batches hold one type: match its globs once
	for i := range n {
		s := subject(i)
		if s == "" || s == allowed {
			continue
		}
		if !p.MayEmit(s) {
			c.metrics.refused(ctx, "permission_denied")
			return fmt.Errorf("%w: producer %q may not send %s", ErrPermissionDenied, p.Name, validUTF8(s))
		}
		allowed = s
	}
	return nil
}

// sanitizeResult replaces invalid UTF-8 (which arbitrary input can put in
// type names and messages) so the answer can always be encoded.
func sanitizeResult(r *collectorv1.EventResult) {
	r.EventId = validUTF8(r.EventId)
	r.Message = validUTF8(r.Message)
	for _, v := range r.Violations {
		v.FieldPath, v.RuleId, v.Message = validUTF8(v.FieldPath), validUTF8(v.RuleId), validUTF8(v.Message)
	}
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// runWorkers starts the goroutines that run the per-event hot path. Long
// lived workers keep the stacks that validation's recursion grew, where a
// fresh goroutine per request would grow (copy) its stack every time; and
// CPU work stays bounded by the cores however many requests wait on Pub/Sub.
func (c *Collector) runWorkers(n int) {
	for range max(n, 1) {
		go func() {
			for {
				select {
				case f := <-c.work:
					f()
				case <-c.quit:
					return
				}
			}
		}()
	}
}

// onWorker runs f on a worker and waits for it.
func (c *Collector) onWorker(ctx context.Context, f func()) error {
	done := make(chan struct{})
	job := func() {
		defer close(done)
		f()
	}
	select {
	case c.work <- job:
	case <-c.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done
	return nil
}

// pendingPublish is an event on its way to Pub/Sub.
type pendingPublish struct {
	index   int
	result  *collectorv1.EventResult
	subject string
	// resolved is the subject of the schema the event resolved to, ""
	// when it did not resolve.
	resolved string
	msg      *pubsub.Message
	// data is the accepted payload as published, key its entity key;
	// Check reuses data's bytes.
	data    []byte
	key     string
	given   bool // data is the edge's (Input.Prepared), not encoded after buf
	failed  bool // publishing the FailedEvent of a rejection
	handle  *pubsub.PublishResult
	started time.Time
}

func (c *Collector) await(ctx context.Context, pp *pendingPublish) {
	_, err := pp.handle.Get(ctx)
	topic := c.cfg.eventsTopic
	if pp.failed {
		topic = c.cfg.failedTopic
	}
	c.metrics.published(ctx, topic, time.Since(pp.started), err)
	if err == nil {
		return // ACCEPTED or REJECTED stands
	}
	if pp.msg.OrderingKey != "" {
		// A failed publish pauses its ordering key; the producer's retry
		// must find it open again.
		c.events.ResumePublish(pp.msg.OrderingKey)
	}
	c.cfg.logger.Warn("publish failed; event answered RETRY", "topic", topic, "event_id", pp.result.GetEventId(), "type", pp.subject, "error", err)
	r := pp.result
	r.Status = collectorv1.EventStatus_EVENT_STATUS_RETRY
	r.Reason = eventv1.Reason_REASON_UNSPECIFIED
	r.Violations = nil
	r.Message = fmt.Sprintf("publish to %s not confirmed (%v); retry with the same event id", topic, err)
}

// resolver resolves schemas for one request, remembering them so a batch
// of one type asks the registry once. It lives on the stack of the request
// it serves, so the context it holds is that request's and ends with it.
type resolver struct {
	c        *Collector
	ctx      context.Context  //nolint:containedctx // the request's own, for as long as the request (above)
	last     *contract.Schema // most batches hold one type
	subjects map[string]*contract.Schema
}

func (r *resolver) latest(subject string) (*contract.Schema, error) {
	if r.last != nil && r.last.Subject == subject {
		return r.last, nil
	}
	if s, ok := r.subjects[subject]; ok {
		return s, nil
	}
	s, err := r.c.lookup(missingKey{subject: subject}, func() (*contract.Schema, error) { return r.c.schemas.Latest(r.ctx, subject) })
	if err != nil {
		return nil, err
	}
	if r.last != nil {
		if r.subjects == nil {
			r.subjects = map[string]*contract.Schema{}
		}
		r.subjects[r.last.Subject] = r.last
	}
	r.last = s
	return s, nil
}

// errRemembered is the answer for what the registry recently did not know.
var errRemembered = fmt.Errorf("%w (the registry did not know it moments ago)", ErrSchemaNotFound)

// lookup asks the registry through get, unless it did not know k moments
// ago.
func (c *Collector) lookup(k missingKey, get func() (*contract.Schema, error)) (*contract.Schema, error) {
	now := time.Now()
	if c.missing.has(k, now) {
		return nil, errRemembered
	}
	s, err := get()
	if isNotFound(err) {
		c.missing.add(k, now)
	}
	return s, err
}

// prepare runs every check and transform of one input and returns what to
// publish: the event on hem-events, its FailedEvent on hem-failed, or
// nothing (RETRY without a publish). Without publish (Check) it builds no
// message and answers as it would with one. The payload is encoded after
// buf (see pendingPublish.data).
func (c *Collector) prepare(res *resolver, p *auth.Principal, in *Input, now time.Time, buf []byte, publish bool) pendingPublish {
	e, edgeErr := in.Event, in.Err
	r := &collectorv1.EventResult{EventId: e.GetEventId()}
	pp := pendingPublish{result: r, subject: subjectOf(e)}
	if r.EventId == "" {
		id, err := uuid.NewV7()
		if err != nil {
			id = uuid.New()
		}
		r.EventId = id.String()
	}
	var s *contract.Schema // once resolved
	reject := func(rej *rejection, schemaID int64) pendingPublish {
		r.Status = collectorv1.EventStatus_EVENT_STATUS_REJECTED
		r.Reason = rej.reason
		r.Message = rej.message
		r.Violations = rej.violations
		r.SchemaId = schemaID
		if !publish {
			return pp
		}
		msg, err := c.failedMessage(res, e, in.Origin, r.EventId, p, pp.subject, s, schemaID, rej, now)
		if err != nil {
			r.Status = collectorv1.EventStatus_EVENT_STATUS_RETRY
			r.Message = err.Error()
			return pp
		}
		pp.msg, pp.failed = msg, true
		return pp
	}
	if edgeErr != nil {
		var er *Rejection
		if !errors.As(edgeErr, &er) {
			r.Status = collectorv1.EventStatus_EVENT_STATUS_RETRY
			r.Message = edgeErr.Error()
			return pp
		}
		if er.SchemaID != 0 {
			pp.resolved = c.plans.subject(er.SchemaID, pp.subject)
		}
		return reject(er.rejection(), er.SchemaID)
	}
	if rej := c.checkEnvelope(e, r.EventId); rej != nil {
		return reject(rej, e.GetSchemaId())
	}
	var rej *rejection
	var err error

	s, rej, err = c.resolve(res, pp.subject, e.GetSchemaId())
	if err != nil {
		r.Status = collectorv1.EventStatus_EVENT_STATUS_RETRY
		r.Message = fmt.Sprintf("schema registry unavailable: %v", err)
		return pp
	}
	if rej != nil {
		return reject(rej, e.GetSchemaId())
	}
	pp.resolved = s.Subject
	if rej := c.checkEventTime(e, s, now); rej != nil {
		return reject(rej, s.ID)
	}
	pl := c.plans.get(s)
	attrs := e.GetAttributes()
	applied := attrs[envelope.AttrPII] == envelope.PIIApplied
	if applied {
		// The replay's marker is for the collector, not for consumers.
		attrs = maps.Clone(attrs)
		delete(attrs, envelope.AttrPII)
	}
	validated := in.Checked != 0 && in.Checked == s.ID && !applied // see Input.Checked
	var data []byte
	var key string
	if pr := in.Prepared; validated && pr != nil {
		data, key, pp.given = pr.Data, pr.EntityKey, true // see Input.Prepared
	} else {
		data, key, rej, err = pl.processValidated(res.ctx, e.GetPayload().GetValue(), c.hasher, c.cfg.fieldKeys, buf, applied, validated)
		if err != nil {
			r.Status = collectorv1.EventStatus_EVENT_STATUS_RETRY
			r.Message = err.Error()
			return pp
		}
	}
	if rej != nil {
		return reject(rej, s.ID)
	}
	pp.data, pp.key = data, key
	r.Status = collectorv1.EventStatus_EVENT_STATUS_ACCEPTED
	r.SchemaId = s.ID
	if !publish {
		return pp
	}
	eventTime := now
	if e.GetEventTime() != nil {
		eventTime = e.GetEventTime().AsTime()
	}
	env := envelope.Envelope{
		EventID:    r.EventId,
		Type:       s.Subject,
		SchemaID:   s.ID,
		EventTime:  eventTime,
		ReceivedAt: now,
		Producer:   p.Name,
		EntityKey:  key,
		Attributes: envelope.Lineage(attrs, in.Origin),
	}
	pp.msg = &pubsub.Message{Data: data, Attributes: env.Encode()}
	if pl.ordered {
		pp.msg.OrderingKey = key
	}
	return pp
}

// resolve finds the schema of an event: the pinned id, which must be a
// usable version of the payload's subject, or the subject's latest usable
// version. A non-nil error is transient (registry unreachable); what the
// registry answered for good (NOT_FOUND, INVALID_ARGUMENT) is a rejection.
func (c *Collector) resolve(res *resolver, subject string, pinned int64) (*contract.Schema, *rejection, error) {
	if pinned != 0 {
		s, err := c.lookup(missingKey{id: pinned}, func() (*contract.Schema, error) { return c.schemas.ByID(res.ctx, pinned) })
		switch {
		case isNotFound(err):
			return nil, collectRejection(eventv1.Reason_REASON_SCHEMA_NOT_FOUND, fmt.Sprintf("schema id %d does not exist", pinned)), nil
		case isRefused(err):
			return nil, collectRejection(eventv1.Reason_REASON_SCHEMA_NOT_FOUND, fmt.Sprintf("schema id %d: the registry refused it: %v", pinned, err)), nil
		case err != nil:
			return nil, nil, err
		case s.Subject != subject:
			return nil, collectRejection(eventv1.Reason_REASON_SCHEMA_NOT_FOUND, fmt.Sprintf("schema id %d is a version of %s, not of %s", pinned, s.Subject, subject)), nil
		case s.State != contract.Usable:
			return nil, collectRejection(eventv1.Reason_REASON_SCHEMA_NOT_FOUND, fmt.Sprintf("schema id %d of %s is not usable yet (its warehouse migration has not finished)", pinned, subject)), nil
		case s.IsRollup():
			return nil, collectRejection(eventv1.Reason_REASON_UNKNOWN_TYPE, rollupNotEvent(subject)), nil
		}
		return s, nil, nil
	}
	s, err := res.latest(subject)
	switch {
	case isNotFound(err):
		return nil, collectRejection(eventv1.Reason_REASON_UNKNOWN_TYPE, fmt.Sprintf("%s is not a registered event type", subject)), nil
	case isRefused(err):
		return nil, collectRejection(eventv1.Reason_REASON_UNKNOWN_TYPE, fmt.Sprintf("%s: the registry refused the name: %v", subject, err)), nil
	case err != nil:
		return nil, nil, err
	case s.State != contract.Usable:
		return nil, collectRejection(eventv1.Reason_REASON_SCHEMA_NOT_FOUND, fmt.Sprintf("%s has no usable version yet", subject)), nil
	case s.IsRollup():
		return nil, collectRejection(eventv1.Reason_REASON_UNKNOWN_TYPE, rollupNotEvent(subject)), nil
	}
	return s, nil, nil
}

// rollupNotEvent is the answer to an event of a rollup subject: hem
// computes a rollup's rows, nobody sends them.
func rollupNotEvent(subject string) string {
	return fmt.Sprintf("%s is a rollup, not an event type: hem computes its rows from its source (hem rollup run)", subject)
}

// checkEventTime rejects an event_time outside the window around now (see
// WithEventTimeWindow): producers must not choose partitions BigQuery
// refuses or has already expired.
func (c *Collector) checkEventTime(e *eventv1.Event, s *contract.Schema, now time.Time) *rejection {
	if e.GetEventTime() == nil {
		return nil // stamped with now
	}
	t := e.GetEventTime().AsTime()
	earliest, latest := now.Add(-c.cfg.maxEventAge), now.Add(c.cfg.maxEventLead)
	expires := false
	o := s.Options()
	if o.GetPartitionField() == "" && o.GetPartitionExpirationDays() > 0 {
		if exp := now.AddDate(0, 0, -int(o.GetPartitionExpirationDays())); exp.After(earliest) {
			earliest, expires = exp, true
		}
	}
	if !t.Before(earliest) && !t.After(latest) {
		return nil // the usual case: nothing to format (a file source's every record)
	}
	why := fmt.Sprintf("at most %v before and %v after its receipt", c.cfg.maxEventAge, c.cfg.maxEventLead)
	if expires {
		why = fmt.Sprintf("%s's partitions expire after %d days", s.Subject, o.GetPartitionExpirationDays())
	}
	msg := fmt.Sprintf("event_time %s is outside the accepted window %s to %s (%s)",
		t.Format(time.RFC3339), earliest.Format(time.RFC3339), latest.Format(time.RFC3339), why)
	rej := collectRejection(eventv1.Reason_REASON_INVALID_ENVELOPE, msg)
	rej.violations = []*eventv1.Violation{{FieldPath: "event_time", RuleId: "event_time.window", Message: msg}}
	return rej
}

// maxEventIDBytes bounds producer-chosen event ids.
const maxEventIDBytes = 128

func (c *Collector) checkEnvelope(e *eventv1.Event, id string) *rejection {
	lim := c.cfg.limits
	invalid := func(format string, args ...any) *rejection {
		return collectRejection(eventv1.Reason_REASON_INVALID_ENVELOPE, fmt.Sprintf(format, args...))
	}
	if len(id) > maxEventIDBytes || !printable(id) {
		return invalid("event_id must be at most %d printable characters", maxEventIDBytes)
	}
	for _, m := range []struct {
		name string
		msg  interface{ ProtoReflect() protoreflect.Message }
	}{{"event", e}, {"payload", e.GetPayload()}, {"event_time", e.GetEventTime()}} {
		if n := firstUnknown(m.msg.ProtoReflect().GetUnknown()); n != 0 {
			return invalid("%s has a field hem does not know (number %d)", m.name, n)
		}
	}
	if e.GetSchemaId() < 0 {
		return invalid("schema_id %d: schema ids are positive (0 means the latest version)", e.GetSchemaId())
	}
	if e.GetPayload() == nil || e.GetPayload().GetTypeUrl() == "" {
		return invalid("payload is missing (a google.protobuf.Any naming the event type)")
	}
	if subjectOf(e) == "" {
		return invalid("payload type URL %q names no type", e.GetPayload().GetTypeUrl())
	}
	if n := len(e.GetPayload().GetValue()); n > lim.MaxEventBytes {
		return collectRejection(eventv1.Reason_REASON_TOO_LARGE, fmt.Sprintf("payload is %d bytes, the limit is %d", n, lim.MaxEventBytes))
	}
	if ts := e.GetEventTime(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return invalid("event_time: %v", err)
		}
	}
	attrs := e.GetAttributes()
	if len(attrs) > lim.MaxAttributes {
		return collectRejection(eventv1.Reason_REASON_TOO_LARGE, fmt.Sprintf("%d attributes, the limit is %d", len(attrs), lim.MaxAttributes))
	}
	for k, v := range attrs {
		switch {
		case k == "":
			return invalid("attribute keys must not be empty")
		case k == envelope.AttrPII && v == envelope.PIIApplied:
			// A replayed FailedEvent's marker (see failed.go).
		case strings.HasPrefix(strings.ToLower(k), envelope.AttrPrefix):
			return invalid("attribute %q: keys starting with %q are reserved for hem", k, envelope.AttrPrefix)
		case strings.HasPrefix(strings.ToLower(k), "goog"):
			return invalid("attribute %q: keys starting with \"goog\" are reserved by Pub/Sub", k)
		case len(k) > lim.MaxAttributeKeyBytes:
			return collectRejection(eventv1.Reason_REASON_TOO_LARGE, fmt.Sprintf("attribute key %.32q… is %d bytes, the limit is %d", k, len(k), lim.MaxAttributeKeyBytes))
		case len(v) > lim.MaxAttributeValueBytes:
			return collectRejection(eventv1.Reason_REASON_TOO_LARGE, fmt.Sprintf("attribute %q is %d bytes, the limit is %d", k, len(v), lim.MaxAttributeValueBytes))
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return invalid("attribute %q is not valid UTF-8", k)
		}
	}
	return nil
}

func printable(s string) bool {
	// Ids are nearly always ASCII (UUIDs): no decoding for those.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			return printableRunes(s)
		} else if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func printableRunes(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' {
			return false
		}
	}
	return true
}
