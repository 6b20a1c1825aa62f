package collector_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// TestIngestEdgeRejections: an input its edge rejected is answered
// REJECTED with the edge's reason and recorded on hem-failed with what the
// edge could read of it; one the edge could not read for now is answered
// RETRY and nothing is published; the valid event beside them is ACCEPTED.
func TestIngestEdgeRejections(t *testing.T) {
	viol := []*eventv1.Violation{{FieldPath: "payload.items[0].quantity", RuleId: "json.syntax", Message: "not a number"}}
	tests := []struct {
		name       string
		err        error
		status     collectorv1.EventStatus
		stage      eventv1.Stage
		reason     eventv1.Reason
		message    string
		violations int
		schemaID   int64
	}{
		{
			name:   "decode failure, defaults",
			err:    &collector.Rejection{Message: "line 7: unexpected end of JSON input"},
			status: collectorv1.EventStatus_EVENT_STATUS_REJECTED,
			stage:  eventv1.Stage_STAGE_DECODE, reason: eventv1.Reason_REASON_DECODE_FAILED,
			message: "line 7: unexpected end of JSON input",
		},
		{
			name:   "with field path and schema",
			err:    &collector.Rejection{Stage: eventv1.Stage_STAGE_VALIDATE, Reason: eventv1.Reason_REASON_VALIDATION_FAILED, Message: "items[0].quantity: not a number", Violations: viol, SchemaID: 1},
			status: collectorv1.EventStatus_EVENT_STATUS_REJECTED,
			stage:  eventv1.Stage_STAGE_VALIDATE, reason: eventv1.Reason_REASON_VALIDATION_FAILED,
			message: "items[0].quantity: not a number", violations: 1, schemaID: 1,
		},
		{
			name:    "transient",
			err:     errors.New("schema registry unavailable: connection refused"),
			status:  collectorv1.EventStatus_EVENT_STATUS_RETRY,
			message: "schema registry unavailable: connection refused",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := start(t)
			good := event(t, "good", orderPlaced(1))
			partial := rawEvent("edge", "shop.orders.v1.OrderPlaced", nil)
			partial.Attributes = map[string]string{"source": "file-7"}
			p := &auth.Principal{Name: "files", Types: []string{"*"}}
			results, err := st.Collector.Ingest(t.Context(), p, []collector.Input{{Event: good}, {Event: partial, Err: tc.err}})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 2 {
				t.Fatalf("%d results for 2 inputs", len(results))
			}
			if r := results[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
				t.Errorf("valid event: %v, want ACCEPTED", r)
			}
			r := results[1]
			if r.GetEventId() != "edge" || r.GetStatus() != tc.status || r.GetReason() != tc.reason || r.GetMessage() != tc.message || len(r.GetViolations()) != tc.violations || r.GetSchemaId() != tc.schemaID {
				t.Errorf("edge input: %v, want %v %v %q with %d violations, schema %d", r, tc.status, tc.reason, tc.message, tc.violations, tc.schemaID)
			}
			failed := st.Published(envelope.FailedTopic)
			if tc.status != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
				if len(failed) != 0 {
					t.Errorf("%d FailedEvents published for a RETRY", len(failed))
				}
				return
			}
			if len(failed) != 1 {
				t.Fatalf("%d FailedEvents published, want 1", len(failed))
			}
			var fe eventv1.FailedEvent
			if err := proto.Unmarshal(failed[0].Data, &fe); err != nil {
				t.Fatal(err)
			}
			var orig eventv1.Event
			if err := proto.Unmarshal(fe.GetOriginal(), &orig); err != nil {
				t.Fatal(err)
			}
			if fe.GetEventId() != "edge" || fe.GetStage() != tc.stage || fe.GetReason() != tc.reason || fe.GetMessage() != tc.message ||
				len(fe.GetViolations()) != tc.violations || fe.GetSchemaId() != tc.schemaID || fe.GetProducer() != "files" || fe.GetType() != "shop.orders.v1.OrderPlaced" {
				t.Errorf("FailedEvent %v", &fe)
			}
			if orig.GetAttributes()["source"] != "file-7" || orig.GetPayload().GetTypeUrl() != partial.GetPayload().GetTypeUrl() {
				t.Errorf("FailedEvent's original %v, want what the edge read", &orig)
			}
		})
	}
}

// TestIngestRefusesWholeBatches: Ingest charges a batch itself, and
// refuses one that breaks the limits or comes without a principal, with
// nothing published.
func TestIngestRefusesWholeBatches(t *testing.T) {
	tests := []struct {
		name string
		p    *auth.Principal
		n    int
		want error
	}{
		{name: "no principal", n: 1, want: collector.ErrUnauthenticated},
		{name: "type not allowed", p: &auth.Principal{Name: "files", Types: []string{"shop.members.v1.*"}}, n: 1, want: collector.ErrPermissionDenied},
		{name: "too many events", p: &auth.Principal{Name: "files", Types: []string{"*"}}, n: 3, want: collector.ErrBatchTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := start(t, collector.WithLimits(collector.Limits{MaxBatchEvents: 2}))
			in := make([]collector.Input, tc.n)
			for i := range in {
				in[i].Event = event(t, "e", orderPlaced(1))
			}
			_, err := st.Collector.Ingest(t.Context(), tc.p, in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if n := len(st.PubSub.Messages()); n != 0 {
				t.Errorf("%d messages published", n)
			}
		})
	}
}
