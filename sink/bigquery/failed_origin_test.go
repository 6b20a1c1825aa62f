package bigquery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/contract"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

// TestFailedEventsOrigin: _failed_events stores the origin of a
// FailedEvent a file source made (FailedEvent field 12), in a fresh
// dataset and in one whose table was made before the field existed (the
// sink adds the RECORD column).
func TestFailedEventsOrigin(t *testing.T) {
	t.Parallel()
	fs := contract.FailedEventSchema()
	table, err := contract.MapTable(fs.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	event := func(id string, line int64) *sink.Event {
		fe := &eventv1.FailedEvent{Stage: eventv1.Stage_STAGE_READ, Reason: eventv1.Reason_REASON_MAPPING_FAILED, Message: "price: not a number",
			Type: "shop.products.v1.ProductCreated", EventId: id, Attempts: 1, FailedAt: timestamppb.New(at),
			Origin: &eventv1.Origin{Source: "catalogue", Uri: "gs://landing/catalogue/2026-12-07.csv.gz", Generation: 17, Line: line, Record: "SKU-1;;[PII withheld]"}}
		data, err := proto.Marshal(fe)
		if err != nil {
			t.Fatal(err)
		}
		m := fs.NewMessage()
		if err := proto.Unmarshal(data, m); err != nil {
			t.Fatal(err)
		}
		return &sink.Event{ID: "m-" + id, Schema: fs, Payload: data, Message: m, EventTime: at, PublishedAt: at}
	}
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing=%v", existing), func(t *testing.T) {
			t.Parallel()
			first, srv := newSink(t, bigquery.Config{})
			s := first
			if existing {
				// The table as a hem before Origin made it: the same, without the column.
				if err := first.Migrate(t.Context(), fs); err != nil {
					t.Fatal(err)
				}
				client, err := bq.NewClient(t.Context(), project, srv.ClientOptions()...)
				if err != nil {
					t.Fatal(err)
				}
				defer client.Close()
				ref := client.Dataset(dataset).Table(table.Name)
				meta, err := ref.Metadata(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				var old bq.Schema
				for _, f := range meta.Schema {
					if f.Name != "origin" {
						old = append(old, f)
					}
				}
				if len(old) != len(meta.Schema)-1 {
					t.Fatalf("the table has no origin column: %v", meta.Schema)
				}
				if err := ref.Delete(t.Context()); err != nil {
					t.Fatal(err)
				}
				if err := ref.Create(t.Context(), &bq.TableMetadata{Schema: old, TimePartitioning: meta.TimePartitioning, Clustering: meta.Clustering}); err != nil {
					t.Fatal(err)
				}
				s = sinkOn(t, srv) // a new process: nothing migrated yet
			}
			if err := s.Write(t.Context(), &sink.Batch{Subject: fs.Subject, Events: []*sink.Event{event("e-1", 3), event("e-2", 9)}}); err != nil {
				t.Fatal(err)
			}
			rows, err := srv.Rows(project, dataset, table.Name)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				o, _ := r["origin"].(map[string]any)
				got = append(got, fmt.Sprint(r["event_id"], " ", o["source"], " ", o["uri"], " ", o["generation"], " ", o["line"], " ", o["record"]))
			}
			want := "[e-1 catalogue gs://landing/catalogue/2026-12-07.csv.gz 17 3 SKU-1;;[PII withheld] e-2 catalogue gs://landing/catalogue/2026-12-07.csv.gz 17 9 SKU-1;;[PII withheld]]"
			if fmt.Sprint(got) != want {
				t.Errorf("_failed_events rows:\n got %v\nwant %s", got, want)
			}
		})
	}
}

// sinkOn is a second sink on srv, as another process would open it.
func sinkOn(t *testing.T, srv *bigquerytest.Server) *bigquery.Sink {
	t.Helper()
	s, err := bigquery.New(t.Context(), bigquery.Config{Project: project, Dataset: dataset, Endpoint: srv.RESTEndpoint(), WriteEndpoint: srv.WriteEndpoint()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}
