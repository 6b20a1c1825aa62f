package collector

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// TestCheckEventTimeInsideTheWindowAllocatesNothing: the window's reason is
// formatted only for an event outside it, not for every event (it was 5 %
// of a file source's CPU).
//
//nolint:paralleltest // AllocsPerRun refuses parallel tests
func TestCheckEventTimeInsideTheWindowAllocatesNothing(t *testing.T) {
	c := &Collector{cfg: &config{maxEventAge: 5 * 365 * 24 * time.Hour, maxEventLead: 24 * time.Hour}}
	s := testSchema(t, "shop.orders.v1.OrderPlaced")
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	in := &eventv1.Event{EventTime: timestamppb.New(now.Add(-time.Hour))}
	if n := testing.AllocsPerRun(100, func() {
		if rej := c.checkEventTime(in, s, now); rej != nil {
			t.Fatal(rej.message)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per event inside the window, want 0", n)
	}
	out := &eventv1.Event{EventTime: timestamppb.New(now.AddDate(-6, 0, 0))}
	if rej := c.checkEventTime(out, s, now); rej == nil || rej.violations[0].GetRuleId() != "event_time.window" {
		t.Fatalf("an event six years old: %v, want a rejection", rej)
	}
}
