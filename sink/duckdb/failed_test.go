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

// TestFailedEventsOrigin: _failed_events has the origin of a FailedEvent
// a file source made (FailedEvent field 12), on a fresh warehouse and on
// one made before the field existed (its table gains the column).
func TestFailedEventsOrigin(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	withOrigin := func(t *testing.T, msgID, id string, line int64) *sink.Event {
		ev := failure(t, msgID, id, eventv1.Reason_REASON_MAPPING_FAILED, "o-"+id, at)
		fe := &eventv1.FailedEvent{}
		if err := proto.Unmarshal(ev.Payload, fe); err != nil {
			t.Fatal(err)
		}
		fe.Stage = eventv1.Stage_STAGE_READ
		fe.Origin = &eventv1.Origin{Source: "catalogue", Uri: "gs://landing/catalogue/2026-12-07.zip", Generation: 17, Entry: "products.csv", Line: line, Record: "SKU-1;;[PII withheld]"}
		ev.Payload, _ = proto.Marshal(fe)
		ev.Message = contract.FailedEventSchema().NewMessage()
		if err := proto.Unmarshal(ev.Payload, ev.Message.Interface()); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing=%v", existing), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "w.duckdb")
			subject := contract.FailedEventSchema().Subject
			if existing {
				// A warehouse of a hem before Origin: its table lacks the column.
				w, err := duckdb.Open(t.Context(), path)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Write(t.Context(), &sink.Batch{Subject: subject, Events: []*sink.Event{failure(t, "m0", "e-0", eventv1.Reason_REASON_VALIDATION_FAILED, "o0", at)}}); err != nil {
					t.Fatal(err)
				}
				if _, err := w.DB().ExecContext(t.Context(), "ALTER TABLE _failed_events DROP COLUMN origin"); err != nil {
					t.Fatal(err)
				}
				_ = w.Close(context.Background())
			}
			w, err := duckdb.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			if err := w.Write(t.Context(), &sink.Batch{Subject: subject, Events: []*sink.Event{withOrigin(t, "m1", "e-1", 3), withOrigin(t, "m2", "e-2", 9)}}); err != nil {
				t.Fatal(err)
			}
			res, err := w.Query(t.Context(), "SELECT event_id, stage, origin.source, origin.uri, origin.generation, origin.entry, origin.line, origin.record FROM _failed_events ORDER BY event_id")
			if err != nil {
				t.Fatal(err)
			}
			want := "[[e-1 STAGE_READ catalogue gs://landing/catalogue/2026-12-07.zip 17 products.csv 3 SKU-1;;[PII withheld]] [e-2 STAGE_READ catalogue gs://landing/catalogue/2026-12-07.zip 17 products.csv 9 SKU-1;;[PII withheld]]]"
			if existing {
				want = "[[e-0 STAGE_VALIDATE <nil> <nil> <nil> <nil> <nil> <nil>] " + want[1:]
			}
			if got := fmt.Sprint(res.Rows); got != want {
				t.Errorf("_failed_events:\n got %s\nwant %s", got, want)
			}
		})
	}
}
