package wiring

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hemlabs/hem/collector"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/source"
)

func TestCollectorInputsCarryRejectionAndOrigin(t *testing.T) {
	t.Parallel()
	origin := &eventv1.Origin{Source: "product-catalogue", Uri: "gs://hem-landing/catalogue/a.csv.gz", Generation: 7, Line: 12, Record: "A-1;[PII withheld]"}
	viol := []*eventv1.Violation{{FieldPath: "price.amount_micros"}}
	in := []source.Input{
		{Event: &eventv1.Event{EventId: "ok"}, Origin: origin},
		{Event: &eventv1.Event{EventId: "bad"}, Origin: origin, Rejection: &source.Rejection{
			Stage: eventv1.Stage_STAGE_READ, Reason: eventv1.Reason_REASON_MAPPING_FAILED, Message: "price: not a number", Violations: viol}},
	}
	out := collectorInputs(in)
	if out[0].Err != nil || out[0].Origin != origin || out[0].Event.GetEventId() != "ok" {
		t.Errorf("accepted input: %+v", out[0])
	}
	var rej *collector.Rejection
	if !errors.As(out[1].Err, &rej) || rej.Stage != eventv1.Stage_STAGE_READ || rej.Reason != eventv1.Reason_REASON_MAPPING_FAILED ||
		rej.Message != "price: not a number" || len(rej.Violations) != 1 || out[1].Origin != origin {
		t.Errorf("rejected input: %+v (%+v)", out[1], rej)
	}
}

func TestRefusedMarksWhatNoRetryCures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err     error
		refused bool
	}{
		{nil, false},
		{fmt.Errorf("x: %w", collector.ErrPermissionDenied), true},
		{collector.ErrBatchTooLarge, true},
		{collector.ErrUnauthenticated, true},
		{collector.ErrQuotaExceeded, false},
		{collector.ErrOverloaded, false},
		{collector.ErrClosed, false},
		{context.DeadlineExceeded, false},
	}
	for _, tt := range tests {
		got := refused(tt.err)
		if errors.Is(got, source.ErrRefused) != tt.refused || (tt.err != nil && !errors.Is(got, tt.err)) {
			t.Errorf("refused(%v) = %v, want refused=%v and the cause kept", tt.err, got, tt.refused)
		}
	}
}
