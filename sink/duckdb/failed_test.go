package duckdb_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/contract"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
)

// failure is a FailedEvent of event id, delivered as Pub/Sub message msgID.
func failure(t *testing.T, msgID, id string, reason eventv1.Reason, original string, failedAt time.Time) *sink.Event {
	t.Helper()
	s := contract.FailedEventSchema()
	fe := &eventv1.FailedEvent{Stage: eventv1.Stage_STAGE_VALIDATE, Reason: reason, Message: "amount: must be positive",
		Type: "shop.orders.v1.OrderPlaced", EventId: id, Attempts: 1, FailedAt: timestamppb.New(failedAt), Original: []byte(original)}
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

// TestFailureStoredOnceAfterRestart writes failed events, reopens the
// warehouse (a restart) and delivers failures again as a crash does:
// _failed_events must hold one row per failure.
func TestFailureStoredOnceAfterRestart(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	later := at.Add(3 * time.Second)
	validation, decode := eventv1.Reason_REASON_VALIDATION_FAILED, eventv1.Reason_REASON_DECODE_FAILED
	for _, tc := range []struct {
		name         string
		first, again func(t *testing.T) []*sink.Event
		want         string // message ids stored
	}{{
		name:  "a failed event redelivered (its ack was lost)",
		first: func(t *testing.T) []*sink.Event { return []*sink.Event{failure(t, "m1", "e-1", validation, "o1", at)} },
		again: func(t *testing.T) []*sink.Event { return []*sink.Event{failure(t, "m1", "e-1", validation, "o1", at)} },
		want:  "[m1]",
	}, {
		name:  "a rejected event sent again: the same failure under a new message id",
		first: func(t *testing.T) []*sink.Event { return []*sink.Event{failure(t, "m1", "e-1", validation, "o1", at)} },
		again: func(t *testing.T) []*sink.Event {
			return []*sink.Event{failure(t, "m2", "e-1", validation, "o1", later), failure(t, "m3", "e-1", validation, "o1", later)}
		},
		want: "[m1]",
	}, {
		name:  "the same event failing for another reason, or with other bytes, is a failure of its own",
		first: func(t *testing.T) []*sink.Event { return []*sink.Event{failure(t, "m1", "e-1", validation, "o1", at)} },
		again: func(t *testing.T) []*sink.Event {
			return []*sink.Event{failure(t, "m2", "e-1", decode, "o1", later), failure(t, "m3", "e-1", validation, "o2", later)}
		},
		want: "[m1 m2 m3]",
	}, {
		name:  "failures with neither an event id nor original bytes are told apart by message",
		first: func(t *testing.T) []*sink.Event { return []*sink.Event{failure(t, "m1", "", validation, "", at)} },
		again: func(t *testing.T) []*sink.Event {
			return []*sink.Event{failure(t, "m1", "", validation, "", at), failure(t, "m2", "", validation, "", later)}
		},
		want: "[m1 m2]",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "w.duckdb")
			subject := contract.FailedEventSchema().Subject
			for _, evs := range [][]*sink.Event{tc.first(t), tc.again(t)} {
				w, err := duckdb.Open(t.Context(), path)
				if err != nil {
					t.Fatal(err)
				}
				err = w.Write(t.Context(), &sink.Batch{Subject: subject, Events: evs})
				if cerr := w.Close(context.Background()); err == nil {
					err = cerr
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			w, err := duckdb.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			res, err := w.Query(t.Context(), "select _event_id from _failed_events order by 1")
			if err != nil {
				t.Fatal(err)
			}
			var got []any
			for _, r := range res.Rows {
				got = append(got, r[0])
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("_failed_events holds %v, want %s", got, tc.want)
			}
		})
	}
}
