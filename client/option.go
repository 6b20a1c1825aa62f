package client

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// Option configures a Client.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	apiKey         string
	perRPC         credentials.PerRPCCredentials
	dialOpts       []grpc.DialOption
	batchCount     int
	batchBytes     int
	batchDelay     time.Duration
	maxAttempts    int
	backoff        time.Duration
	maxBackoff     time.Duration
	maxInflight    int
	maxBuffered    int
	requestTimeout time.Duration
	now            func() time.Time
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		batchCount:     100,
		batchBytes:     1 << 20,
		batchDelay:     10 * time.Millisecond,
		maxAttempts:    10,
		backoff:        100 * time.Millisecond,
		maxBackoff:     10 * time.Second,
		maxInflight:    4,
		maxBuffered:    64 << 20,
		requestTimeout: 30 * time.Second,
		now:            time.Now,
	}
	for _, o := range opts {
		o.apply(c)
	}
	var errs []error
	if c.batchCount < 1 || c.batchCount > 1000 {
		errs = append(errs, fmt.Errorf("batch count %d: must be 1 to 1000 (the collector's limit)", c.batchCount))
	}
	if c.batchBytes < 1 {
		errs = append(errs, fmt.Errorf("batch bytes %d: must be positive", c.batchBytes))
	}
	if c.maxAttempts < 1 {
		errs = append(errs, fmt.Errorf("retry attempts %d: must be at least 1", c.maxAttempts))
	}
	if c.maxInflight < 1 {
		errs = append(errs, fmt.Errorf("in-flight batches %d: must be at least 1", c.maxInflight))
	}
	if c.maxBuffered < c.batchBytes {
		errs = append(errs, fmt.Errorf("buffered bytes %d: must be at least the batch bytes %d", c.maxBuffered, c.batchBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return c, nil
}

// WithAPIKey authenticates with an API key (sent as x-api-key).
func WithAPIKey(key string) Option {
	return optionFunc(func(c *config) { c.apiKey = key })
}

// WithPerRPCCredentials authenticates every call with creds, e.g. Google ID
// tokens from google.golang.org/api/idtoken wrapped with
// google.golang.org/grpc/credentials/oauth.TokenSource.
func WithPerRPCCredentials(creds credentials.PerRPCCredentials) Option {
	return optionFunc(func(c *config) { c.perRPC = creds })
}

// WithDialOptions adds gRPC dial options, e.g. a custom dialer in tests.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return optionFunc(func(c *config) { c.dialOpts = append(c.dialOpts, opts...) })
}

// WithBatchCount sends a batch once it holds n events (default 100, at most
// 1000).
func WithBatchCount(n int) Option {
	return optionFunc(func(c *config) { c.batchCount = n })
}

// WithBatchBytes sends a batch once its events reach n bytes (default
// 1 MiB).
func WithBatchBytes(n int) Option {
	return optionFunc(func(c *config) { c.batchBytes = n })
}

// WithBatchDelay sends a non-empty batch at the latest d after its first
// event (default 10 ms).
func WithBatchDelay(d time.Duration) Option {
	return optionFunc(func(c *config) { c.batchDelay = d })
}

// WithRetry sets how often an event is sent at most (default 10) and the
// first backoff (default 100 ms), which doubles per attempt up to 10 s, with
// jitter. Retries keep the event id.
func WithRetry(maxAttempts int, backoff time.Duration) Option {
	return optionFunc(func(c *config) { c.maxAttempts, c.backoff = maxAttempts, backoff })
}

// WithMaxInflightBatches bounds the batches being sent at once (default 4).
func WithMaxInflightBatches(n int) Option {
	return optionFunc(func(c *config) { c.maxInflight = n })
}

// WithMaxBufferedBytes bounds the bytes of events not yet answered (default
// 64 MiB); Emit blocks while the buffer is full.
func WithMaxBufferedBytes(n int) Option {
	return optionFunc(func(c *config) { c.maxBuffered = n })
}

// WithRequestTimeout bounds one attempt of one batch (default 30 s).
func WithRequestTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.requestTimeout = d })
}

// EmitOption sets metadata of one event.
type EmitOption interface {
	applyEmit(*eventv1.Event)
}

type emitOptionFunc func(*eventv1.Event)

func (f emitOptionFunc) applyEmit(e *eventv1.Event) { f(e) }

// WithEventID sets the event id. Default: a fresh UUIDv7. Use your own when
// you may emit the same fact twice (after a crash): the warehouse keeps one
// row per id.
func WithEventID(id string) EmitOption {
	return emitOptionFunc(func(e *eventv1.Event) { e.EventId = id })
}

// WithEventTime sets when the fact happened. Default: the time of Emit.
func WithEventTime(t time.Time) EmitOption {
	return emitOptionFunc(func(e *eventv1.Event) { e.EventTime = timestamppb.New(t) })
}

// WithAttributes adds producer attributes; they travel as Pub/Sub
// attributes. Keys may not start with "hem-".
func WithAttributes(attrs map[string]string) EmitOption {
	return emitOptionFunc(func(e *eventv1.Event) {
		if e.Attributes == nil {
			e.Attributes = make(map[string]string, len(attrs))
		}
		maps.Copy(e.Attributes, attrs)
	})
}

// WithSchemaID pins the schema id to validate against. Default: the
// latest usable version of the message's type.
func WithSchemaID(id int64) EmitOption {
	return emitOptionFunc(func(e *eventv1.Event) { e.SchemaId = id })
}
