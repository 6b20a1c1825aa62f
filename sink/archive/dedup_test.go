package archive_test

import (
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/contract"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
)

// newBucket starts a GCS server with an empty bucket "archive".
func newBucket(t *testing.T) *storage.Client {
	t.Helper()
	return localgcstest.Client(t, "archive")
}

// archivedIDs counts the records of subject under prefix, by event id.
func archivedIDs(t *testing.T, client *storage.Client, prefix, subject string) map[string]int {
	t.Helper()
	got := map[string]int{}
	err := archive.NewReader(client, "archive", prefix).Events(t.Context(), subject, time.Unix(0, 0), time.Now().Add(48*time.Hour),
		func(rec *archive.Record) error { got[rec.EventID]++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// failure is a FailedEvent of one rejection of event id, delivered as
// Pub/Sub message msgID at failedAt.
func failure(t *testing.T, msgID, id string, reason eventv1.Reason, failedAt time.Time) *sink.Event {
	t.Helper()
	s := contract.FailedEventSchema()
	fe := &eventv1.FailedEvent{Stage: eventv1.Stage_STAGE_VALIDATE, Reason: reason, Message: "amount: must be positive",
		Type: "shop.orders.v1.OrderPlaced", EventId: id, Attempts: 1, FailedAt: timestamppb.New(failedAt),
		Original: []byte("original of " + id)}
	data, err := proto.Marshal(fe)
	if err != nil {
		t.Fatal(err)
	}
	m := s.NewMessage()
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return &sink.Event{ID: msgID, Schema: s, Payload: data, Message: m, EventTime: failedAt, PublishedAt: failedAt}
}

// TestRedeliveryAfterRestartIsStoredOnce writes batches, starts a new sink
// on the same bucket (a restart after kill -9: nothing in memory) and
// delivers events again as a crash does; each event or failure must be
// archived once.
func TestRedeliveryAfterRestartIsStoredOnce(t *testing.T) {
	t.Parallel()
	placedSchema, err := placed()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 9, 59, 0, 0, time.UTC)
	failedSubject := contract.FailedEventSchema().Subject
	validation, fieldMissing := eventv1.Reason_REASON_VALIDATION_FAILED, eventv1.Reason_REASON_DECODE_FAILED

	for _, tc := range []struct {
		name    string
		prefix  string
		subject string
		// first is written before the restart, again after it.
		first, again func(t *testing.T) []*sink.Event
		want         map[string]int
	}{{
		name: "a batch written, then redelivered because its ack was lost", prefix: "events/", subject: placedSchema.Subject,
		first: func(t *testing.T) []*sink.Event { return events(t, 20, start, time.Second) },
		again: func(t *testing.T) []*sink.Event { return events(t, 25, start, time.Second) }, // the same 20 and 5 new
		want:  idCounts("e-%04d", 25),
	}, {
		name: "an accepted event sent again by its producer: a second message, a later publish", prefix: "events/", subject: placedSchema.Subject,
		first: func(t *testing.T) []*sink.Event { return events(t, 10, start, time.Second) },
		again: func(t *testing.T) []*sink.Event {
			evs := events(t, 10, start, time.Second)
			for _, e := range evs {
				e.ReceivedAt, e.PublishedAt = e.ReceivedAt.Add(5*time.Second), e.PublishedAt.Add(5*time.Second)
			}
			return append(evs, evs[3]) // and a copy in the same batch
		},
		want: idCounts("e-%04d", 10),
	}, {
		name: "a rejected event sent again: the same failure under a new message id, the next hour", prefix: "failed/", subject: failedSubject,
		first: func(t *testing.T) []*sink.Event {
			return []*sink.Event{failure(t, "m1", "e-1", validation, start), failure(t, "m2", "e-2", validation, start)}
		},
		again: func(t *testing.T) []*sink.Event {
			later := start.Add(2 * time.Minute) // 10:01: another hour partition
			return []*sink.Event{
				failure(t, "m1", "e-1", validation, start),   // m1 redelivered
				failure(t, "m3", "e-2", validation, later),   // e-2 rejected again
				failure(t, "m4", "e-2", fieldMissing, later), // e-2 failing for another reason: a failure of its own
				failure(t, "m5", "e-3", validation, later),   // new
				failure(t, "m6", "e-3", validation, later),   // and again, in the same batch
			}
		},
		want: map[string]int{"m1": 1, "m2": 1, "m4": 1, "m5": 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := newBucket(t)
			before, err := archive.New(client, "archive", archive.WithPrefix(tc.prefix), archive.WithWriterID("before"))
			if err != nil {
				t.Fatal(err)
			}
			if err := before.Write(t.Context(), &sink.Batch{Subject: tc.subject, Events: tc.first(t)}); err != nil {
				t.Fatal(err)
			}
			after, err := archive.New(client, "archive", archive.WithPrefix(tc.prefix), archive.WithWriterID("after"))
			if err != nil {
				t.Fatal(err)
			}
			if err := after.Write(t.Context(), &sink.Batch{Subject: tc.subject, Events: tc.again(t)}); err != nil {
				t.Fatal(err)
			}
			got := archivedIDs(t, client, tc.prefix, tc.subject)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("archived (id: copies) %v, want %v", got, tc.want)
			}
		})
	}
}

func idCounts(format string, n int) map[string]int {
	out := map[string]int{}
	for i := range n {
		out[fmt.Sprintf(format, i)] = 1
	}
	return out
}

// TestDedupWindowIsBounded: the window keeps the newest keys only, so an
// event older than it is archived again (readers deduplicate), and a
// window of 0 skips nothing.
func TestDedupWindowIsBounded(t *testing.T) {
	t.Parallel()
	s, err := placed()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		window int
		want   int // records of e-0000 after writing it, 9 others, then it again
	}{{window: 100, want: 1}, {window: 5, want: 2}, {window: 0, want: 2}} {
		t.Run(fmt.Sprint("window ", tc.window), func(t *testing.T) {
			t.Parallel()
			client := newBucket(t)
			a, err := archive.New(client, "archive", archive.WithDedupWindow(tc.window))
			if err != nil {
				t.Fatal(err)
			}
			evs := events(t, 10, start, time.Second)
			for _, b := range [][]*sink.Event{evs[:1], evs[1:5], evs[5:], evs[:1]} {
				if err := a.Write(t.Context(), &sink.Batch{Subject: s.Subject, Events: b}); err != nil {
					t.Fatal(err)
				}
			}
			if got := archivedIDs(t, client, "events/", s.Subject)["e-0000"]; got != tc.want {
				t.Fatalf("e-0000 archived %d times, want %d", got, tc.want)
			}
		})
	}
}
