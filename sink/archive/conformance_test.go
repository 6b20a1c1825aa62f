package archive_test

import (
	"context"
	"testing"
	"time"

	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/sinktest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, func(t *testing.T) *sinktest.Harness {
		client := newBucket(t)
		a, err := archive.New(client, "archive")
		if err != nil {
			t.Fatal(err)
		}
		r := archive.NewReader(client, "archive", "events/")
		// A restart: a new writer on the bucket, nothing in memory.
		reopen := func(t *testing.T) sink.Sink {
			a, err := archive.New(client, "archive")
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		// The archive keeps the envelope and the payload bytes; a row is
		// what the mapping makes of the event read back.
		return &sinktest.Harness{Sink: a, Dedup: true, Reopen: reopen, Rows: func(ctx context.Context, subject string) ([]sinktest.Row, error) {
			var out []sinktest.Row
			err := r.Events(ctx, subject, time.Unix(0, 0), time.Now().Add(365*24*time.Hour), func(rec *archive.Record) error {
				out = append(out, sinktest.Expected(&sink.Event{ID: rec.EventID, Schema: rec.Schema, Payload: rec.Payload,
					Message: rec.Message, EventTime: rec.EventTime, ReceivedAt: rec.ReceivedAt, PublishedAt: rec.PublishedAt,
					Producer: rec.Producer, Attributes: rec.Attributes}))
				return nil
			})
			return out, err
		}}
	})
}
