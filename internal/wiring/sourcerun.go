package wiring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// Names of the object notifications' topic and subscription, locally (hem
// dev) and in terraform.
const (
	ObjectsTopic        = "hem-objects"
	ObjectsSubscription = "hem-objects-source"
)

// EventFinalize is the notification of a new object (or a new generation of
// one): the only event a file source loads.
const EventFinalize = "OBJECT_FINALIZE"

// ErrObjectMissing is an object (at its generation) that no longer exists
// when its notification arrives: deleted or replaced since. Its replacement
// has a notification of its own.
var ErrObjectMissing = errors.New("object no longer exists")

// ObjectNotification is one Cloud Storage object notification (payload
// format JSON_API_V1): the attributes say what happened to which object,
// the data is the object's resource.
type ObjectNotification struct {
	EventType  string
	Bucket     string
	Name       string
	Generation int64
	Size       int64
}

// ParseObjectNotification reads a notification's attributes (eventType,
// bucketId, objectId, objectGeneration) and, for the size, its JSON_API_V1
// payload (data may be empty: payload format NONE).
func ParseObjectNotification(attrs map[string]string, data []byte) (ObjectNotification, error) {
	n := ObjectNotification{EventType: attrs["eventType"], Bucket: attrs["bucketId"], Name: attrs["objectId"]}
	if n.EventType == "" || n.Bucket == "" || n.Name == "" {
		return n, fmt.Errorf("not an object notification: attributes eventType, bucketId and objectId are required (got %q, %q, %q)", n.EventType, n.Bucket, n.Name)
	}
	if g := attrs["objectGeneration"]; g != "" {
		gen, err := strconv.ParseInt(g, 10, 64)
		if err != nil || gen < 0 {
			return n, fmt.Errorf("object notification of gs://%s/%s: objectGeneration %q is not a generation", n.Bucket, n.Name, g)
		}
		n.Generation = gen
	}
	if len(data) > 0 {
		var res struct {
			Size string `json:"size"` // JSON_API_V1 quotes int64s
		}
		if err := json.Unmarshal(data, &res); err == nil && res.Size != "" {
			n.Size, _ = strconv.ParseInt(res.Size, 10, 64)
		}
	}
	return n, nil
}

// NotificationAttributes are the attributes Cloud Storage puts on an object
// notification (hem dev publishes the same).
func NotificationAttributes(eventType, bucket, name string, generation int64, at time.Time) map[string]string {
	return map[string]string{
		"notificationConfig": "projects/_/buckets/" + bucket + "/notificationConfigs/hem",
		"eventType":          eventType,
		"payloadFormat":      "JSON_API_V1",
		"bucketId":           bucket,
		"objectId":           name,
		"objectGeneration":   strconv.FormatInt(generation, 10),
		"eventTime":          at.UTC().Format(time.RFC3339Nano),
	}
}

// ObjectLoader loads the objects of declared sources (*SourceLoader).
type ObjectLoader interface {
	// Match finds the source that declares gs://bucket/name.
	Match(bucket, name string) (*sourcev1.Source, bool)
	// LoadObject loads gs://bucket/name at generation for src and returns
	// its ledger entry as the load ended. An error (another loader holds
	// the object, an outage, a contract the registry does not have) means
	// "try again later"; ErrObjectMissing means there is nothing to load.
	LoadObject(ctx context.Context, src *sourcev1.Source, bucket, name string, generation int64) (*sourcev1.LedgerEntry, error)
}

// SourceRunStats counts what a SourceRunner did since it started.
// Notifications counts deliveries: a redelivered one counts again.
type SourceRunStats struct {
	Notifications int64
	// Ignored: not OBJECT_FINALIZE, not a notification, or an object no
	// source declares (acked).
	Ignored int64
	// Loaded, Quarantined, Failed: loads that ended so (acked).
	Loaded, Quarantined, Failed int64
	// Missing: objects gone before they could be loaded (acked).
	Missing int64
	// Retried: nacked, to be delivered again (busy, outage, shutdown).
	Retried int64
	// Loading: loads running now.
	Loading int64
}

// SourceRunner consumes object notifications and loads each new object of
// a declared source, once: hem source run in production, and the same code
// inside hem dev. A notification is acked once the ledger says the object
// is done (loaded, quarantined or failed), nacked when the load must be
// tried again (another loader holds it, an outage, shutdown); the
// subscription's dead letter takes what keeps failing. Safe for concurrent
// use.
type SourceRunner struct {
	loader ObjectLoader
	log    *slog.Logger
	c      struct {
		notifications, ignored, loaded, quarantined, failed, missing, retried, loading atomic.Int64
	}
	outcomes metric.Int64Counter
	lastErr  atomic.Pointer[error]
}

// NewSourceRunner builds a runner over loader; log and meter may be nil.
func NewSourceRunner(loader ObjectLoader, log *slog.Logger, meter metric.MeterProvider) (*SourceRunner, error) {
	if loader == nil {
		return nil, errors.New("source run: no loader")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if meter == nil {
		meter = noop.NewMeterProvider()
	}
	r := &SourceRunner{loader: loader, log: log}
	m := meter.Meter("github.com/hemlabs/hem/internal/wiring")
	var err error
	r.outcomes, err = m.Int64Counter("hem.source.notifications",
		metric.WithDescription("Object notifications by outcome: ignored, loaded, quarantined, failed, missing, retried."))
	if err != nil {
		return nil, fmt.Errorf("source run: metrics: %w", err)
	}
	return r, nil
}

// Stats returns the counters.
func (r *SourceRunner) Stats() SourceRunStats {
	return SourceRunStats{
		Notifications: r.c.notifications.Load(), Ignored: r.c.ignored.Load(),
		Loaded: r.c.loaded.Load(), Quarantined: r.c.quarantined.Load(), Failed: r.c.failed.Load(),
		Missing: r.c.missing.Load(), Retried: r.c.retried.Load(), Loading: r.c.loading.Load(),
	}
}

// Ready reports why the runner is not healthy: the subscription's stream
// stopped.
func (r *SourceRunner) Ready() error {
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// SourceRunSettings are how a runner receives notifications.
type SourceRunSettings struct {
	// Loads is how many objects load at once (each with the loader's own
	// workers).
	Loads int
	// MaxLoadTime is how long a notification is held (its ack deadline
	// extended) while its object loads; a longer load is redelivered and
	// resumes from the ledger's checkpoint.
	MaxLoadTime time.Duration
	// ShutdownTimeout is how long loads may go on after ctx ends before
	// they are cut off (their notifications come back; the ledger keeps
	// their checkpoints).
	ShutdownTimeout time.Duration
	// AckExtension is how long each extension of a held notification's
	// deadline lasts: the ledger's lease, since a notification redelivered
	// sooner after a crash would find the object still held anyway (the
	// client library's default is 10 s, renewed every 5 s).
	AckExtension time.Duration
	// RetryDelay is how long a notification whose load must be tried again
	// is held before it is nacked: Pub/Sub's retry policy spaces
	// redeliveries in production, but hem dev's server redelivers at once
	// (a notification of an object another loader held came back 19 times
	// in 13 s).
	RetryDelay time.Duration
}

// DefaultSourceRunSettings are the production settings.
func DefaultSourceRunSettings() SourceRunSettings {
	return SourceRunSettings{Loads: 2, MaxLoadTime: 2 * time.Hour, ShutdownTimeout: 8 * time.Second, AckExtension: time.Minute, RetryDelay: 2 * time.Second}
}

// Run receives notifications from sub until ctx ends. It returns nil after
// ctx ended, or the error that stopped the stream.
func (r *SourceRunner) Run(ctx context.Context, sub *pubsub.Subscriber, set SourceRunSettings) error {
	if set.Loads <= 0 {
		set.Loads = 1
	}
	sub.ReceiveSettings = pubsub.ReceiveSettings{
		NumGoroutines:          1,
		MaxOutstandingMessages: set.Loads,
		MaxOutstandingBytes:    -1,
		MaxExtension:           set.MaxLoadTime,
		// Pub/Sub takes 10 s to 600 s.
		MinDurationPerAckExtension: min(max(set.AckExtension, 10*time.Second), 600*time.Second),
		// At shutdown a load has ShutdownTimeout to finish; then it is cut
		// off, its notification comes back, and whoever gets it resumes
		// from the checkpoint.
		ShutdownOptions: &pubsub.ShutdownOptions{Behavior: pubsub.ShutdownBehaviorWaitForProcessing, Timeout: set.ShutdownTimeout + 2*time.Second},
	}
	// Loads run on their own context so that shutdown lets a nearly done
	// load finish for ShutdownTimeout instead of dropping it at once.
	loadCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(set.ShutdownTimeout, cancel)
		context.AfterFunc(loadCtx, func() { t.Stop() })
	})
	defer stop()
	err := sub.Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		if r.Handle(loadCtx, m.Attributes, m.Data) {
			m.Ack()
			return
		}
		select {
		case <-time.After(set.RetryDelay):
		case <-loadCtx.Done():
		}
		m.Nack()
	})
	if err != nil && ctx.Err() == nil {
		r.lastErr.Store(&err)
		return fmt.Errorf("source run: receive: %w", err)
	}
	return nil
}

// Handle loads the object of one notification and reports whether the
// notification is done with (ack) or must come again (nack).
func (r *SourceRunner) Handle(ctx context.Context, attrs map[string]string, data []byte) (ack bool) {
	r.c.notifications.Add(1)
	n, err := ParseObjectNotification(attrs, data)
	if err != nil {
		r.log.Warn("ignoring a message that is not an object notification", "error", err)
		return r.outcome(ctx, "ignored", &r.c.ignored, true)
	}
	if n.EventType != EventFinalize {
		return r.outcome(ctx, "ignored", &r.c.ignored, true)
	}
	uri := "gs://" + n.Bucket + "/" + n.Name
	src, ok := r.loader.Match(n.Bucket, n.Name)
	if !ok {
		r.log.Info("no source declares the object; ignored", "object", uri, "generation", n.Generation)
		return r.outcome(ctx, "ignored", &r.c.ignored, true)
	}
	log := r.log.With("source", src.GetName(), "object", uri, "generation", n.Generation)
	r.c.loading.Add(1)
	start := time.Now()
	e, err := r.loader.LoadObject(ctx, src, n.Bucket, n.Name, n.Generation)
	r.c.loading.Add(-1)
	switch {
	case errors.Is(err, ErrObjectMissing):
		log.Warn("object gone before it could be loaded; ignored", "error", err)
		return r.outcome(ctx, "missing", &r.c.missing, true)
	case err != nil:
		log.Warn("load not done; the notification comes again", "error", err)
		return r.outcome(ctx, "retried", &r.c.retried, false)
	}
	args := []any{"status", e.GetStatus().String(), "records", e.GetRecords(), "accepted", e.GetAccepted(),
		"rejected", e.GetRejected(), "took", time.Since(start).Round(time.Millisecond)}
	switch e.GetStatus() {
	case sourcev1.Status_STATUS_LOADED:
		log.Info("object loaded", args...)
		return r.outcome(ctx, "loaded", &r.c.loaded, true)
	case sourcev1.Status_STATUS_QUARANTINED:
		log.Warn("object quarantined", append(args, "reason", e.GetReason())...)
		return r.outcome(ctx, "quarantined", &r.c.quarantined, true)
	case sourcev1.Status_STATUS_FAILED:
		log.Warn("object failed", append(args, "reason", e.GetReason())...)
		return r.outcome(ctx, "failed", &r.c.failed, true)
	default:
		// Still LOADING: cut off (shutdown) or lost to another loader.
		log.Info("load not finished; the notification comes again", args...)
		return r.outcome(ctx, "retried", &r.c.retried, false)
	}
}

func (r *SourceRunner) outcome(ctx context.Context, name string, c *atomic.Int64, ack bool) bool {
	c.Add(1)
	r.outcomes.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(attribute.String("outcome", name)))
	return ack
}
