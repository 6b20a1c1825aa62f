package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// Errors a Result can carry.
var (
	// ErrClosed: the event was emitted after Close, or Close gave up on it.
	ErrClosed = errors.New("hem client: closed")
	// ErrRetriesExhausted: every attempt failed with a retryable error; the
	// wrapped error is the last one.
	ErrRetriesExhausted = errors.New("hem client: retries exhausted")
)

// RejectedError is the error of an event the collector refused for good.
// Retrying it will not help; Result holds the reason and violations.
type RejectedError struct {
	Result *collectorv1.EventResult
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("hem: event %s rejected: %s: %s", e.Result.GetEventId(),
		strings.TrimPrefix(e.Result.GetReason().String(), "REASON_"), e.Result.GetMessage())
}

// Client sends events to a hem collector in batches. It is safe for
// concurrent use; create one per process and Close it on shutdown.
type Client struct {
	cfg  *config
	conn *grpc.ClientConn
	svc  collectorv1.CollectorServiceClient

	// ctx is the client's lifetime, not a call's: batches are sent in the
	// background after the Emit that queued them returned. Close cancels it
	// when it gives up.
	ctx    context.Context //nolint:containedctx // the background sender's lifetime (above)
	cancel context.CancelFunc
	slots  chan struct{} // in-flight batch RPCs

	mu          sync.Mutex
	closed      bool
	batch       []*item
	batchBytes  int
	timer       *time.Timer
	buffered    int           // bytes of events not yet answered
	space       chan struct{} // closed when buffer space frees up
	outstanding int           // events not yet answered
	idle        chan struct{} // closed when outstanding drops to zero
	sending     sync.WaitGroup
}

type item struct {
	ev   *eventv1.Event
	size int
	res  *Result
}

// New connects to a collector at target: "host:port" (plaintext, e.g. a
// local hem dev) or "https://host[:port]" (TLS, e.g. Cloud Run). The
// connection is made lazily; New does no I/O.
func New(ctx context.Context, target string, opts ...Option) (*Client, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	addr, dialOpts, err := dialTarget(target)
	if err != nil {
		return nil, err
	}
	if cfg.perRPC != nil {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(cfg.perRPC))
	}
	dialOpts = append(dialOpts, cfg.dialOpts...)
	conn, err := grpc.NewClient(addr, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("hem client: %w", err)
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &Client{
		cfg:    cfg,
		conn:   conn,
		svc:    collectorv1.NewCollectorServiceClient(conn),
		ctx:    cctx,
		cancel: cancel,
		slots:  make(chan struct{}, cfg.maxInflight),
		space:  make(chan struct{}),
		idle:   make(chan struct{}),
	}
	close(c.idle)
	return c, nil
}

// Dial connects to a collector's gRPC API at target, as New does: host:port
// (or http://host:port) in plaintext, https://host[:port] with TLS. For
// tools that call the API directly (replays); producers use New.
func Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	addr, dialOpts, err := dialTarget(target)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, append(dialOpts, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("hem client: %w", err)
	}
	return conn, nil
}

func dialTarget(target string) (string, []grpc.DialOption, error) {
	switch {
	case strings.HasPrefix(target, "https://"):
		host := strings.TrimSuffix(strings.TrimPrefix(target, "https://"), "/")
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(host, "443")
		}
		return host, []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}))}, nil
	case strings.HasPrefix(target, "http://"):
		target = strings.TrimSuffix(strings.TrimPrefix(target, "http://"), "/")
	}
	if target == "" || strings.Contains(target, "/") {
		return "", nil, fmt.Errorf("hem client: target %q: want host:port or https://host", target)
	}
	return target, []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
}

// Emit queues msg, an event contract such as a shop.orders.v1.OrderPlaced,
// and returns at once with its Result. The event id (a UUIDv7 unless
// WithEventID) is fixed here and kept on every retry. Emit blocks only when
// WithMaxBufferedBytes is reached, until space frees up or ctx is done;
// ctx does not bound the delivery, which goes on in the background.
func (c *Client) Emit(ctx context.Context, msg proto.Message, opts ...EmitOption) *Result {
	ev := &eventv1.Event{}
	for _, o := range opts {
		o.applyEmit(ev)
	}
	if ev.EventId == "" {
		id, err := uuid.NewV7()
		if err != nil {
			id = uuid.New()
		}
		ev.EventId = id.String()
	}
	res := newResult(ev.EventId)
	// Deterministic bytes are what the collector publishes: it can pass
	// them on without re-encoding.
	payload := new(anypb.Any)
	err := anypb.MarshalFrom(payload, msg, proto.MarshalOptions{Deterministic: true})
	if err != nil {
		res.finish(nil, fmt.Errorf("hem client: encode %T: %w", msg, err))
		return res
	}
	ev.Payload = payload
	if ev.EventTime == nil {
		ev.EventTime = timestamppb.New(c.cfg.now())
	}
	it := &item{ev: ev, size: proto.Size(ev), res: res}
	if err := c.enqueue(ctx, it); err != nil {
		res.finish(nil, err)
	}
	return res
}

func (c *Client) enqueue(ctx context.Context, it *item) error {
	c.mu.Lock()
	for !c.closed && c.buffered > 0 && c.buffered+it.size > c.cfg.maxBuffered {
		space := c.space
		c.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return fmt.Errorf("hem client: emit: %w", ctx.Err())
		}
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.buffered += it.size
	if c.outstanding == 0 {
		c.idle = make(chan struct{})
	}
	c.outstanding++
	if len(c.batch) > 0 && c.batchBytes+it.size > c.cfg.batchBytes {
		c.flushLocked()
	}
	c.batch = append(c.batch, it)
	c.batchBytes += it.size
	switch {
	case len(c.batch) >= c.cfg.batchCount || c.batchBytes >= c.cfg.batchBytes:
		c.flushLocked()
	case len(c.batch) == 1:
		c.timer = time.AfterFunc(c.cfg.batchDelay, c.flushTimer)
	}
	return nil
}

func (c *Client) flushTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

// flushLocked hands the current batch to a sender goroutine.
func (c *Client) flushLocked() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if len(c.batch) == 0 {
		return
	}
	batch := c.batch
	c.batch, c.batchBytes = nil, 0
	c.sending.Add(1)
	go func() {
		defer c.sending.Done()
		c.send(batch)
	}()
}

// done records the answer of one event.
func (c *Client) done(it *item, r *collectorv1.EventResult, err error) {
	it.res.finish(r, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buffered -= it.size
	close(c.space)
	c.space = make(chan struct{})
	c.outstanding--
	if c.outstanding == 0 {
		close(c.idle)
	}
}

func retryableCode(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

// send delivers a batch: whole-call failures with a retryable code resend
// every event, per-event RETRY answers resend those events; both keep the
// event ids.
func (c *Client) send(items []*item) {
	select {
	case c.slots <- struct{}{}:
	case <-c.ctx.Done():
		for _, it := range items {
			c.done(it, nil, ErrClosed)
		}
		return
	}
	defer func() { <-c.slots }()
	var lastErr error
	var asked time.Duration // the delay the collector asked for, if any
	for attempt := 1; len(items) > 0; attempt++ {
		if attempt > 1 {
			if !c.sleep(max(c.backoff(attempt-1), asked)) {
				for _, it := range items {
					c.done(it, nil, fmt.Errorf("%w (last error: %v)", ErrClosed, lastErr))
				}
				return
			}
		}
		last := attempt >= c.cfg.maxAttempts
		resp, err := c.call(items)
		asked = retryDelay(err)
		if err != nil {
			lastErr = err
			if retryableCode(status.Code(err)) && !last {
				continue
			}
			if retryableCode(status.Code(err)) {
				err = fmt.Errorf("%w after %d attempts: %w", ErrRetriesExhausted, attempt, err)
			}
			for _, it := range items {
				c.done(it, nil, err)
			}
			return
		}
		var retry []*item
		for i, r := range resp.GetResults() {
			it := items[i]
			switch r.GetStatus() {
			case collectorv1.EventStatus_EVENT_STATUS_ACCEPTED:
				c.done(it, r, nil)
			case collectorv1.EventStatus_EVENT_STATUS_REJECTED:
				c.done(it, r, &RejectedError{Result: r})
			default:
				lastErr = errors.New(r.GetMessage())
				if last {
					c.done(it, r, fmt.Errorf("%w after %d attempts: %s", ErrRetriesExhausted, attempt, r.GetMessage()))
					continue
				}
				retry = append(retry, it)
			}
		}
		items = retry
	}
}

func (c *Client) call(items []*item) (*collectorv1.CollectResponse, error) {
	req := &collectorv1.CollectRequest{Events: make([]*eventv1.Event, len(items))}
	for i, it := range items {
		req.Events[i] = it.ev
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.requestTimeout)
	defer cancel()
	if c.cfg.apiKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-api-key", c.cfg.apiKey)
	}
	resp, err := c.svc.Collect(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.GetResults()) != len(items) {
		return nil, status.Errorf(codes.Internal, "collector answered %d results for %d events", len(resp.GetResults()), len(items))
	}
	return resp, nil
}

// retryDelay is the delay a refusal asks for in a google.rpc.RetryInfo
// detail (a producer over its quota), 0 when it asks for none.
func retryDelay(err error) time.Duration {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return 0
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return max(ri.GetRetryDelay().AsDuration(), 0)
		}
	}
	return 0
}

// backoff is exponential with jitter: between half and all of
// base * 2^(n-1), capped.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.backoff << min(n-1, 20)
	if d <= 0 || d > c.cfg.maxBackoff {
		d = c.cfg.maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// Flush sends the events queued so far without waiting for the batch delay
// and blocks until every event emitted before it returns has its answer,
// or ctx is done.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	c.flushLocked()
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hem client: flush: %w", ctx.Err())
	}
}

// Close flushes, waits for every answer until ctx is done, then stops:
// events still unanswered get ErrClosed, and later Emits fail with
// ErrClosed. It closes the connection.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	close(c.space) // wake blocked Emits; they see closed
	c.space = make(chan struct{})
	c.mu.Unlock()
	err := c.Flush(ctx)
	c.cancel()
	c.sending.Wait()
	if cerr := c.conn.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("hem client: close: %w", cerr)
	}
	return err
}

// Result is the outcome of one emitted event. Its methods are safe for
// concurrent use.
type Result struct {
	id   string
	done chan struct{}
	res  *collectorv1.EventResult
	err  error
}

func newResult(id string) *Result { return &Result{id: id, done: make(chan struct{})} }

func (r *Result) finish(res *collectorv1.EventResult, err error) {
	r.res, r.err = res, err
	close(r.done)
}

// EventID is the event's id, known from Emit on.
func (r *Result) EventID() string { return r.id }

// Done is closed once the event has its answer.
func (r *Result) Done() <-chan struct{} { return r.done }

// Get blocks until the event has its answer or ctx is done. An accepted
// event gives its result and a nil error. A rejected one gives its result
// and a *RejectedError. Otherwise the error says why there is no answer:
// ErrRetriesExhausted, ErrClosed, or a non-retryable gRPC error (for
// example UNAUTHENTICATED).
func (r *Result) Get(ctx context.Context) (*collectorv1.EventResult, error) {
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
