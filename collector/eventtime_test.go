package collector_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/collector"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// TestEventTimeWindow: producers cannot choose partitions far from the
// receive time (BigQuery refuses or expires them): event_time outside the
// window is rejected with a reason naming the field, and recorded.
func TestEventTimeWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		name   string
		opts   []collector.Option
		at     time.Time
		accept bool
	}{
		{"year 1", nil, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"year 9999", nil, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), false},
		{"six years ago", nil, now.AddDate(-6, 0, 0), false},
		{"two days ahead", nil, now.Add(48 * time.Hour), false},
		{"four years ago", nil, now.AddDate(-4, 0, 0), true},
		{"an hour ahead (clock skew)", nil, now.Add(time.Hour), true},
		{"now", nil, now, true},
		{"narrower window", []collector.Option{collector.WithEventTimeWindow(time.Hour, time.Minute)}, now.Add(-2 * time.Hour), false},
		{"inside a narrower window", []collector.Option{collector.WithEventTimeWindow(time.Hour, time.Minute)}, now.Add(-30 * time.Minute), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := start(t, append([]collector.Option{collector.WithClock(clock)}, tt.opts...)...)
			c := dial(t, st.Addr)
			ev := event(t, "e-time", orderPlaced(1))
			ev.EventTime = timestamppb.New(tt.at)
			r := mustCollect(t, c, ev)[0]
			if tt.accept {
				if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
					t.Fatalf("event_time %v: %v, want ACCEPTED", tt.at, r)
				}
				return
			}
			if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || r.GetReason() != eventv1.Reason_REASON_INVALID_ENVELOPE ||
				!strings.Contains(r.GetMessage(), "event_time") || !strings.Contains(r.GetMessage(), "window") ||
				!hasViolation(r.GetViolations(), &eventv1.Violation{FieldPath: "event_time", RuleId: "event_time.window"}) {
				t.Fatalf("event_time %v: %v, want REJECTED naming event_time and the window", tt.at, r)
			}
			if fe := failedEvent(t, st, "e-time"); fe.GetReason() != eventv1.Reason_REASON_INVALID_ENVELOPE {
				t.Fatalf("failed event %v", fe)
			}
		})
	}
}
