package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/fieldcrypt"
)

// Option configures a Collector.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Limits bound what one producer can send. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	// MaxEventBytes bounds one event's payload (default 1 MiB).
	MaxEventBytes int
	// MaxBatchBytes bounds the payloads and attributes of one request
	// (default 10 MiB).
	MaxBatchBytes int
	// MaxBatchEvents bounds the events of one request (default 1000).
	MaxBatchEvents int
	// MaxAttributes bounds the producer attributes of one event (default 50).
	MaxAttributes int
	// MaxAttributeKeyBytes bounds an attribute key (default 256).
	MaxAttributeKeyBytes int
	// MaxAttributeValueBytes bounds an attribute value (default 1024).
	MaxAttributeValueBytes int
}

// DefaultLimits are the limits of a collector built without WithLimits.
// They stay inside Pub/Sub's own limits (100 attributes, keys of 256 bytes,
// values of 1024 bytes, 10 MB per message) with room for hem's attributes.
func DefaultLimits() Limits {
	return Limits{
		MaxEventBytes:          1 << 20,
		MaxBatchBytes:          10 << 20,
		MaxBatchEvents:         1000,
		MaxAttributes:          50,
		MaxAttributeKeyBytes:   256,
		MaxAttributeValueBytes: 1024,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	return Limits{
		MaxEventBytes:          pick(l.MaxEventBytes, d.MaxEventBytes),
		MaxBatchBytes:          pick(l.MaxBatchBytes, d.MaxBatchBytes),
		MaxBatchEvents:         pick(l.MaxBatchEvents, d.MaxBatchEvents),
		MaxAttributes:          pick(l.MaxAttributes, d.MaxAttributes),
		MaxAttributeKeyBytes:   pick(l.MaxAttributeKeyBytes, d.MaxAttributeKeyBytes),
		MaxAttributeValueBytes: pick(l.MaxAttributeValueBytes, d.MaxAttributeValueBytes),
	}
}

// DefaultPublishSettings are the Pub/Sub publisher settings of a collector
// built without WithPublishSettings: small batching delay (every producer
// call waits for its publish), a 10 s publish timeout (the Pub/Sub client
// retries UNAVAILABLE until then; the event is answered RETRY after it), and
// no client-side flow control (the collector bounds in-flight bytes itself).
func DefaultPublishSettings() pubsub.PublishSettings {
	s := pubsub.DefaultPublishSettings
	s.DelayThreshold = 2 * time.Millisecond
	s.CountThreshold = pubsub.MaxPublishRequestCount
	s.ByteThreshold = 4 << 20
	s.Timeout = 10 * time.Second
	s.FlowControlSettings = pubsub.FlowControlSettings{
		MaxOutstandingMessages: -1,
		MaxOutstandingBytes:    -1,
		LimitExceededBehavior:  pubsub.FlowControlIgnore,
	}
	return s
}

type config struct {
	keyring          *auth.Keyring
	verifier         TokenVerifier
	audience         string
	salt             []byte
	fieldKeys        *fieldcrypt.Keyring
	limits           Limits
	eventsTopic      string
	failedTopic      string
	publish          pubsub.PublishSettings
	maxInflightBytes int64
	logger           *slog.Logger
	meter            metric.MeterProvider
	metricsHandler   http.Handler
	corsOrigins      []string
	readTimeout      time.Duration
	maxEventAge      time.Duration
	maxEventLead     time.Duration
	now              func() time.Time
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		limits:           DefaultLimits(),
		eventsTopic:      envelope.EventsTopic,
		failedTopic:      envelope.FailedTopic,
		publish:          DefaultPublishSettings(),
		maxInflightBytes: 256 << 20,
		readTimeout:      DefaultReadTimeout,
		maxEventAge:      DefaultMaxEventAge,
		maxEventLead:     DefaultMaxEventLead,
		meter:            noop.NewMeterProvider(),
		now:              time.Now,
	}
	for _, o := range opts {
		o.apply(c)
	}
	return c, c.validate()
}

func (c *config) validate() error {
	var errs []error
	if c.keyring == nil {
		errs = append(errs, errors.New("a keyring is required (WithKeyring)"))
	}
	if len(c.salt) < 16 {
		errs = append(errs, errors.New("a PII salt of at least 16 bytes is required (WithPIISalt)"))
	}
	if c.eventsTopic == "" || c.failedTopic == "" {
		errs = append(errs, errors.New("topic names must not be empty"))
	}
	if c.maxInflightBytes < int64(c.limits.MaxBatchBytes) {
		errs = append(errs, fmt.Errorf("max in-flight bytes %d is below the batch limit %d", c.maxInflightBytes, c.limits.MaxBatchBytes))
	}
	if c.maxEventAge <= 0 || c.maxEventLead <= 0 {
		errs = append(errs, fmt.Errorf("the event_time window must be positive (age %v, lead %v)", c.maxEventAge, c.maxEventLead))
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.verifier == nil && c.audience != "" {
		c.verifier = auth.GoogleIDTokens(c.audience)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	return nil
}

// WithKeyring sets the producers' credentials (required).
func WithKeyring(k *auth.Keyring) Option {
	return optionFunc(func(c *config) { c.keyring = k })
}

// WithAudience accepts Google ID tokens ("authorization: Bearer") issued for
// audience, typically the collector's URL; the token's e-mail must be a
// service account in the keyring. Without it only API keys are accepted.
func WithAudience(audience string) Option {
	return optionFunc(func(c *config) { c.audience = audience })
}

// WithTokenVerifier replaces the Google ID token verifier, e.g. in tests.
func WithTokenVerifier(v TokenVerifier) Option {
	return optionFunc(func(c *config) { c.verifier = v })
}

// WithPIISalt sets the secret key of PII_HANDLING_HASH (required, at least 16
// bytes). Changing it changes every hashed value.
func WithPIISalt(salt []byte) Option {
	return optionFunc(func(c *config) { c.salt = append([]byte(nil), salt...) })
}

// WithFieldKeys sets the keyring of PII_HANDLING_ENCRYPT* fields (built
// with fieldcrypt.WithCreate, so a new data subject gets keys). Without it,
// every event of a contract with encrypted fields is rejected
// (hem.encrypt.no_keys): none is published with those fields in clear.
func WithFieldKeys(k *fieldcrypt.Keyring) Option {
	return optionFunc(func(c *config) { c.fieldKeys = k })
}

// WithLimits sets the size limits; zero fields keep their defaults.
func WithLimits(l Limits) Option {
	return optionFunc(func(c *config) { c.limits = l.withDefaults() })
}

// WithTopics sets the topic ids of accepted and failed events (default
// hem-events and hem-failed).
func WithTopics(events, failed string) Option {
	return optionFunc(func(c *config) { c.eventsTopic, c.failedTopic = events, failed })
}

// WithPublishSettings sets the Pub/Sub publisher settings (batching, timeout,
// flow control). Start from DefaultPublishSettings.
func WithPublishSettings(s pubsub.PublishSettings) Option {
	return optionFunc(func(c *config) { c.publish = s })
}

// WithMaxInflightBytes bounds the bytes of requests being processed at once
// (default 256 MiB). A request that does not fit is refused with
// RESOURCE_EXHAUSTED, which clients retry.
func WithMaxInflightBytes(n int64) Option {
	return optionFunc(func(c *config) { c.maxInflightBytes = n })
}

// WithLogger sets a logger for events an operator should see (publish
// failures). Nil, the default, logs nothing.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithMeterProvider records metrics (events by type, status and reason;
// publish latency). The default records nothing.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meter = mp
		}
	})
}

// WithMetricsHandler serves h at /metrics of HTTPHandler, typically the
// Prometheus handler of the exporter behind WithMeterProvider. Only for an
// HTTPHandler producers cannot reach: metrics tell event types and volumes,
// and hem collector serve serves them on their own --metrics-listen address
// instead.
func WithMetricsHandler(h http.Handler) Option {
	return optionFunc(func(c *config) { c.metricsHandler = h })
}

// WithCORSOrigins lets browsers on these origins call the HTTP endpoint
// ("*" for any).
func WithCORSOrigins(origins ...string) Option {
	return optionFunc(func(c *config) { c.corsOrigins = origins })
}

// DefaultReadTimeout is how long the HTTP endpoint waits for a request's
// body by default.
const DefaultReadTimeout = 30 * time.Second

// WithReadTimeout bounds how long the HTTP endpoint waits for a request's
// body to arrive, counted from the start of the request (default
// DefaultReadTimeout; zero or less keeps the default). A client slower than
// that is cut off, so slow senders cannot hold connections and memory. It
// is a per-request deadline, so it works for HTTP/1 and for h2c streams
// alike, where a server-wide http.Server.ReadTimeout would also end the
// long gRPC streams sharing an h2c port.
func WithReadTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.readTimeout = d
		}
	})
}

// The event_time window's defaults. BigQuery refuses streamed rows for
// partitions too far from today (5 years back, 1 year ahead, for time-unit
// column partitioning) and drops rows of expired partitions, and a wrong
// clock or a bug should not choose archive partitions: 5 years back (1825
// days) and 1 day ahead of the receive time.
const (
	DefaultMaxEventAge  = 1825 * 24 * time.Hour
	DefaultMaxEventLead = 24 * time.Hour
)

// WithEventTimeWindow bounds event_time around the time an event is
// received: at most maxAge before it and maxLead after it (defaults
// DefaultMaxEventAge and DefaultMaxEventLead). A contract whose table is
// partitioned by event time with a partition expiration narrows the past
// to that expiration. Events outside are rejected (INVALID_ENVELOPE, with
// a violation on event_time) and recorded as FailedEvents.
func WithEventTimeWindow(maxAge, maxLead time.Duration) Option {
	return optionFunc(func(c *config) { c.maxEventAge, c.maxEventLead = maxAge, maxLead })
}

// WithClock replaces time.Now for received-at and failed-at stamps (tests).
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) { c.now = now })
}
