package collector

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

func TestFitFailed(t *testing.T) {
	violations := func(n, size int) []*eventv1.Violation {
		var vs []*eventv1.Violation
		for range n {
			vs = append(vs, &eventv1.Violation{Message: strings.Repeat("v", size)})
		}
		return vs
	}
	tests := []struct {
		name           string
		payload        int
		violations     []*eventv1.Violation
		message        string
		wantPayload    bool
		wantViolations int
		wantNote       string
		record         int
	}{
		{name: "fits", payload: 1 << 20, violations: violations(3, 10), wantPayload: true, wantViolations: 3},
		{name: "payload dropped", payload: 10_000_000, violations: violations(3, 10), wantViolations: 3, wantNote: "original payload of 10000000 bytes not kept"},
		{name: "payload first, then violations", payload: 100, violations: violations(2000, 10_000), wantViolations: 992, wantNote: "1008 of 2000 violations not kept"},
		{name: "message cut", payload: 100, message: strings.Repeat("m", 11_000_000), wantNote: "message cut"},
		{name: "origin record cut", payload: 100, record: 11_000_000, wantNote: "origin record of 11000000 bytes cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := &eventv1.Event{EventId: "e", Payload: &anypb.Any{TypeUrl: "type.googleapis.com/a.B", Value: make([]byte, tt.payload)}}
			original, _ := proto.Marshal(orig)
			fe := &eventv1.FailedEvent{Message: cmpOr(tt.message, "rejected"), Violations: tt.violations, Original: original}
			if tt.record > 0 {
				fe.Origin = &eventv1.Origin{Uri: "gs://b/o", Line: 7, Record: strings.Repeat("r", tt.record)}
			}
			if err := fitFailed(fe, orig); err != nil {
				t.Fatal(err)
			}
			if n := proto.Size(fe); n > maxFailedBytes {
				t.Errorf("%d bytes, over %d", n, maxFailedBytes)
			}
			var got eventv1.Event
			if err := proto.Unmarshal(fe.GetOriginal(), &got); err != nil {
				t.Fatal(err)
			}
			if kept := len(got.GetPayload().GetValue()) > 0; kept != tt.wantPayload {
				t.Errorf("payload kept %v, want %v", kept, tt.wantPayload)
			}
			if got.GetPayload().GetTypeUrl() != "type.googleapis.com/a.B" || got.GetEventId() != "e" {
				t.Errorf("original lost its type or id: %v", &got)
			}
			if len(fe.GetViolations()) != tt.wantViolations {
				t.Errorf("%d violations, want %d", len(fe.GetViolations()), tt.wantViolations)
			}
			if tt.wantNote != "" && !strings.Contains(fe.GetMessage(), tt.wantNote) {
				t.Errorf("message %.200q does not say %q", fe.GetMessage(), tt.wantNote)
			}
		})
	}
}
