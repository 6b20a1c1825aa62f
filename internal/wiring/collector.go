package wiring

import (
	"log/slog"
	"path/filepath"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"go.opentelemetry.io/otel/metric"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/fieldcrypt"
)

// CollectorConfig is the collector's configuration.
type CollectorConfig struct {
	EventsTopic string
	FailedTopic string
	Limits      collector.Limits
	// Publish are the Pub/Sub publisher settings (batching, timeout).
	Publish pubsub.PublishSettings
	// MaxInflightBytes bounds the bytes of requests processed at once.
	MaxInflightBytes int64
	// ReadTimeout is the longest an HTTP request may take to send its body.
	ReadTimeout time.Duration
	// MaxEventAge and MaxEventLead bound event_time around the receive time.
	MaxEventAge  time.Duration
	MaxEventLead time.Duration
	// Audience accepts Google ID tokens issued for it; empty accepts none.
	Audience string
	// CORSOrigins are the origins browsers may post events from.
	CORSOrigins []string
	// PIISalt is the secret key of PII_HANDLING_HASH.
	PIISalt []byte
	// FieldKeys are the keys of PII_HANDLING_ENCRYPT* fields (a keyring
	// that creates them); nil rejects the events of contracts with
	// encrypted fields.
	FieldKeys *fieldcrypt.Keyring
}

// LocalFieldKeys is hem dev's keyring of encrypted fields in the folder
// dir (.hem): the master key in keys/master.json (clear: a laptop stand-in
// for Cloud KMS), the wrapped keysets under keys/data/. With create, a
// missing keyset is created (the collector); readers (hem sql, hem erase)
// pass false.
func LocalFieldKeys(dir string, create bool) (*fieldcrypt.Keyring, error) {
	kek, err := fieldcrypt.LocalKEK(filepath.Join(dir, "keys", "master.json"))
	if err != nil {
		return nil, err
	}
	store, err := fieldcrypt.NewDirStore(filepath.Join(dir, "keys", "data"))
	if err != nil {
		return nil, err
	}
	var opts []fieldcrypt.Option
	if create {
		opts = append(opts, fieldcrypt.WithCreate())
	}
	return fieldcrypt.NewKeyring(store, kek, opts...)
}

// DefaultCollectorConfig is the production configuration, without the
// secrets (the PII salt) every deployment brings.
func DefaultCollectorConfig() CollectorConfig {
	return CollectorConfig{
		EventsTopic:      envelope.EventsTopic,
		FailedTopic:      envelope.FailedTopic,
		Limits:           collector.DefaultLimits(),
		Publish:          collector.DefaultPublishSettings(),
		MaxInflightBytes: 256 << 20,
		ReadTimeout:      collector.DefaultReadTimeout,
		MaxEventAge:      collector.DefaultMaxEventAge,
		MaxEventLead:     collector.DefaultMaxEventLead,
	}
}

// NewCollector builds the collector of c over a registry client and a
// Pub/Sub client; keys are its producers.
func NewCollector(c CollectorConfig, schemas collector.Schemas, ps *pubsub.Client, keys *auth.Keyring,
	log *slog.Logger, meter metric.MeterProvider) (*collector.Collector, error) {
	opts := []collector.Option{
		collector.WithKeyring(keys),
		collector.WithPIISalt(c.PIISalt),
		collector.WithTopics(c.EventsTopic, c.FailedTopic),
		collector.WithLimits(c.Limits),
		collector.WithPublishSettings(c.Publish),
		collector.WithMaxInflightBytes(c.MaxInflightBytes),
		collector.WithReadTimeout(c.ReadTimeout),
		collector.WithEventTimeWindow(c.MaxEventAge, c.MaxEventLead),
	}
	if c.FieldKeys != nil {
		opts = append(opts, collector.WithFieldKeys(c.FieldKeys))
	}
	if log != nil {
		opts = append(opts, collector.WithLogger(log))
	}
	if meter != nil {
		opts = append(opts, collector.WithMeterProvider(meter))
	}
	if c.Audience != "" {
		opts = append(opts, collector.WithAudience(c.Audience))
	}
	if len(c.CORSOrigins) > 0 {
		opts = append(opts, collector.WithCORSOrigins(c.CORSOrigins...))
	}
	return collector.New(schemas, ps, opts...)
}
