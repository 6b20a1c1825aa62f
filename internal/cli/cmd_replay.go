package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/duckdb"
)

type replayConfig struct {
	client    clientFlags
	Type      string
	Since     string
	Until     string
	To        string
	Failed    bool
	Bucket    string
	Prefix    string
	Project   string
	Topic     string
	Warehouse string
	DryRun    bool
	// SkipExpired replays the events the target table still keeps and
	// leaves out the older ones, which are refused by default.
	SkipExpired bool
}

func (c *replayConfig) bind(fs *flag.FlagSet) {
	c.client.bind(fs)
	c.client.bindCollector(fs)
	fs.StringVar(&c.Type, "type", "", "event type (subject) to replay; with --failed, only failures of this type (default: all)")
	fs.StringVar(&c.Since, "since", "24h", "start of the event-time window: RFC 3339, or a duration ago (e.g. 2h)")
	fs.StringVar(&c.Until, "until", "", "end of the window (exclusive): RFC 3339, or a duration ago (default: now)")
	fs.StringVar(&c.To, "to", "pubsub", "where to: pubsub (the events topic, keeping event ids) or duckdb (--warehouse)")
	fs.BoolVar(&c.Failed, "failed", false, "replay failed events (archive prefix failed/) through the collector, which validates them again")
	fs.StringVar(&c.Bucket, "bucket", "", "archive bucket (default: the running hem dev's)")
	fs.StringVar(&c.Prefix, "prefix", "", "archive prefix (default events/, or failed/ with --failed)")
	fs.StringVar(&c.Project, "project", "", "Google Cloud project of the topic (default: the running hem dev)")
	fs.StringVar(&c.Topic, "topic", envelope.EventsTopic, "topic to publish to")
	fs.StringVar(&c.Warehouse, "warehouse", "", "DuckDB file for --to duckdb (not one a running hem dev owns)")
	fs.BoolVar(&c.DryRun, "dry-run", false, "count what would be replayed, send nothing")
	fs.BoolVar(&c.SkipExpired, "skip-expired", false, "leave out events older than the target table's retention (by default their presence refuses the whole replay) and replay the rest")
}

func replayCommand() *Command {
	var cfg replayConfig
	return &Command{
		Name:    "replay",
		Summary: "read archived or failed events back into Pub/Sub or a sink",
		Help: `Reads the GCS archive (objects under events/type=SUBJECT/dt=.../hour=...)
for events whose event time is in [--since, --until) and sends them on,
keeping their event ids: the warehouse keeps one row per id, so replaying
is safe to repeat. The archive carries its own descriptor sets; no registry
is needed to read it.

  hem replay --type shop.orders.v1.OrderPlaced --since 2h
  hem replay --type shop.orders.v1.OrderPlaced --since 2026-11-22T00:00:00Z --to duckdb --warehouse copy.duckdb
  hem replay --failed --type shop.orders.v1.OrderPlaced     (after fixing the producer or the contract)

Events older than the table's retention (its contract's
partition_expiration_days) would land in partitions BigQuery has deleted and
vanish: replay counts them first and, if there are any, refuses and sends
nothing. Restore them with "hem restore", or add --skip-expired to replay
the newer ones only. --dry-run prints the count.`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			return runReplay(ctx, io, &cfg)
		},
	}
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}

func runReplay(ctx context.Context, io IO, cfg *replayConfig) error {
	now := time.Now()
	since, err := parseWhen(cfg.Since, now)
	if err != nil {
		return fmt.Errorf("replay: --since: %w", err)
	}
	until, err := parseWhen(cfg.Until, now)
	if err != nil {
		return fmt.Errorf("replay: --until: %w", err)
	}
	if !cfg.Failed && cfg.Type == "" {
		return errors.New("replay: --type is required (the subject, e.g. shop.orders.v1.OrderPlaced)")
	}
	info, err := cfg.client.resolve()
	if err != nil {
		return err
	}
	gcs, bucket, err := archiveClient(ctx, info, cfg.Bucket)
	if err != nil {
		return err
	}
	defer gcs.Close()
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "events/"
		if cfg.Failed {
			prefix = "failed/"
		}
	}
	reader := archive.NewReader(gcs, bucket, prefix)
	subject := cfg.Type
	if cfg.Failed {
		subject = contract.FailedEventSchema().Subject
	}

	// Failed events go through the collector, which refuses expired
	// event times itself.
	var expiry replayExpiry
	var expired int
	if !cfg.Failed {
		if expiry, err = replayExpiryOf(ctx, cfg, reader, subject, since, until, now); err != nil {
			return err
		}
		if expired, err = expiry.count(ctx, reader, since, until); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if expired > 0 && !cfg.SkipExpired && !cfg.DryRun {
			return expiry.refusal(expired, since, until)
		}
		if expired > 0 && expiry.field == "" {
			since = expiry.before // the rest of the window
		}
	}

	send, finish, err := replayTarget(ctx, io, cfg, info)
	if err != nil {
		return err
	}
	var read, sent int
	last := time.Now()
	err = reader.Events(ctx, subject, since, until, func(rec *archive.Record) error {
		if cfg.Failed && cfg.Type != "" && fieldString(rec, "type") != cfg.Type {
			return nil
		}
		if expired > 0 && expiry.expired(rec) {
			return nil
		}
		read++
		if !cfg.DryRun {
			if err := send(ctx, rec); err != nil {
				return err
			}
			sent++
		}
		if time.Since(last) > 2*time.Second {
			fmt.Fprintf(io.Stderr, "replay: %d read, %d sent\n", read, sent)
			last = time.Now()
		}
		return nil
	})
	if ferr := finish(ctx); err == nil {
		err = ferr
	}
	fmt.Fprintf(io.Stdout, "replay: %d events of %s between %s and %s read from gs://%s/%s, %d sent to %s\n",
		read, subject, since.Format(time.RFC3339), until.Format(time.RFC3339), bucket, prefix, sent, cfg.To)
	if expired > 0 {
		verb := "left out"
		if cfg.DryRun && !cfg.SkipExpired {
			verb = "would refuse the replay"
		}
		fmt.Fprintf(io.Stdout, "replay: %d older events %s: the table keeps %d days (partitions from %s); hem restore --type %s brings them back into a table of their own\n",
			expired, verb, expiry.days, expiry.before.Format(time.DateOnly), subject)
	}
	return err
}

func fieldString(rec *archive.Record, name string) string {
	fd := rec.Message.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return ""
	}
	return rec.Message.Get(fd).String()
}

// archiveClient connects to the archive: the running hem dev's GCS server,
// or Google Cloud Storage with --bucket.
func archiveClient(ctx context.Context, info *DevInfo, bucket string) (*storage.Client, string, error) {
	if bucket == "" && info != nil {
		c, err := storage.NewClient(ctx, option.WithEndpoint("http://"+info.GCS+"/storage/v1/"), option.WithoutAuthentication())
		if err != nil {
			return nil, "", fmt.Errorf("replay: gcs of hem dev: %w", err)
		}
		return c, info.Bucket, nil
	}
	if bucket == "" {
		return nil, "", errors.New("replay: --bucket is required (or run hem dev)")
	}
	c, err := storage.NewClient(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("replay: gcs: %w", err)
	}
	return c, bucket, nil
}

type sendFunc func(context.Context, *archive.Record) error

// replayTarget returns where records go and how to finish.
func replayTarget(ctx context.Context, io IO, cfg *replayConfig, info *DevInfo) (sendFunc, func(context.Context) error, error) {
	if cfg.DryRun {
		return nil, func(context.Context) error { return nil }, nil
	}
	if cfg.Failed {
		return collectorTarget(ctx, io, cfg)
	}
	switch cfg.To {
	case "pubsub":
		var ps *pubsub.Client
		var err error
		if cfg.Project == "" && info != nil {
			ps, err = devPubSub(ctx, info)
		} else {
			ps, err = pubsubFor(ctx, cfg.Project, cfg.client.Dir)
		}
		if err != nil {
			return nil, nil, err
		}
		return pubsubTarget(ps, cfg.Topic)
	case "duckdb":
		if cfg.Warehouse == "" {
			return nil, nil, errors.New("replay: --to duckdb needs --warehouse (a file no hem dev owns)")
		}
		w, err := duckdb.Open(ctx, cfg.Warehouse)
		if err != nil {
			return nil, nil, err
		}
		return warehouseTarget(w)
	}
	return nil, nil, fmt.Errorf("replay: --to %q: choose pubsub or duckdb", cfg.To)
}

// pubsubTarget republishes records with the attributes the collector
// stamped, so processors treat them as the original events.
func pubsubTarget(ps *pubsub.Client, topic string) (sendFunc, func(context.Context) error, error) {
	p := ps.Publisher(topic)
	var results []*pubsub.PublishResult
	flush := func(ctx context.Context) error {
		for _, r := range results {
			if _, err := r.Get(ctx); err != nil {
				return fmt.Errorf("replay: publish: %w", err)
			}
		}
		results = results[:0]
		return nil
	}
	send := func(ctx context.Context, rec *archive.Record) error {
		env := envelope.Envelope{EventID: rec.EventID, Type: rec.Schema.Subject, SchemaID: rec.Schema.ID, EventTime: rec.EventTime,
			ReceivedAt: rec.ReceivedAt, Producer: rec.Producer, Attributes: rec.Attributes}
		results = append(results, p.Publish(ctx, &pubsub.Message{Data: rec.Payload, Attributes: env.Encode()}))
		if len(results) >= 1000 {
			return flush(ctx)
		}
		return nil
	}
	finish := func(ctx context.Context) error {
		err := flush(ctx)
		p.Stop()
		return errors.Join(err, ps.Close())
	}
	return send, finish, nil
}

func warehouseTarget(w *duckdb.Warehouse) (sendFunc, func(context.Context) error, error) {
	var batch []*sink.Event
	flush := func(ctx context.Context) error {
		// One subject per batch, as the sink contract wants.
		bySubject := map[string][]*sink.Event{}
		for _, e := range batch {
			bySubject[e.Schema.Subject] = append(bySubject[e.Schema.Subject], e)
		}
		for subject, events := range bySubject {
			if err := w.Write(ctx, &sink.Batch{Subject: subject, Events: events}); err != nil {
				return fmt.Errorf("replay: write: %w", err)
			}
		}
		batch = batch[:0]
		return nil
	}
	send := func(ctx context.Context, rec *archive.Record) error {
		batch = append(batch, &sink.Event{ID: rec.EventID, Schema: rec.Schema, Payload: rec.Payload, Message: rec.Message,
			EventTime: rec.EventTime, ReceivedAt: rec.ReceivedAt, PublishedAt: rec.PublishedAt, Producer: rec.Producer, Attributes: rec.Attributes})
		if len(batch) >= 5000 {
			return flush(ctx)
		}
		return nil
	}
	finish := func(ctx context.Context) error { return errors.Join(flush(ctx), w.Close(ctx)) }
	return send, finish, nil
}

// collectorTarget sends failed events' original envelopes back through the
// collector, so they are validated again like any new event.
func collectorTarget(ctx context.Context, io IO, cfg *replayConfig) (sendFunc, func(context.Context) error, error) {
	conn, err := client.Dial(cfg.client.Collector)
	if err != nil {
		return nil, nil, err
	}
	c := collectorv1.NewCollectorServiceClient(conn)
	send := func(ctx context.Context, rec *archive.Record) error {
		var fe eventv1.FailedEvent
		raw, _ := proto.Marshal(rec.Message.Interface())
		if err := proto.Unmarshal(raw, &fe); err != nil {
			return err
		}
		var original eventv1.Event
		if err := proto.Unmarshal(fe.GetOriginal(), &original); err != nil {
			return fmt.Errorf("replay: failed event %s: original: %w", fe.GetEventId(), err)
		}
		callCtx := metadata.AppendToOutgoingContext(ctx, auth.APIKeyHeader, cfg.client.APIKey)
		resp, err := c.Collect(callCtx, &collectorv1.CollectRequest{Events: []*eventv1.Event{&original}})
		if err != nil {
			return fmt.Errorf("replay: collect: %w", err)
		}
		for _, r := range resp.GetResults() {
			fmt.Fprintf(io.Stdout, "%s  %s  %s %s\n", r.GetStatus(), r.GetEventId(), original.GetPayload().GetTypeUrl(), r.GetMessage())
		}
		return nil
	}
	return send, func(context.Context) error { return conn.Close() }, nil
}
