package loadgen_test

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/internal/loadgen"
)

func TestRunSendsAtRateAndCountsEveryAnswer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	stack, err := collectortest.Start(ctx, "../../proto")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	c, err := client.New(ctx, stack.Addr, client.WithAPIKey(collectortest.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.WithoutCancel(t.Context())) })

	var progress, ids, rejIDs bytes.Buffer
	rep, err := loadgen.Run(ctx, c, loadgen.Config{
		Rate: 2000, Duration: 1500 * time.Millisecond, InvalidShare: 0.1, Seed: 3,
		Progress: &progress, ProgressEvery: 500 * time.Millisecond, Accepted: &ids,
		Rejected: &rejIDs,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The rate itself is measured by hem loadgen runs (README), not here:
	// on a busy machine a run falls behind its schedule, never ahead of it.
	if rep.Sent < 100 || rep.Sent > 3000 {
		t.Fatalf("sent %d events at 2000/s for 1.5 s, want at most 3000 (and not next to none)", rep.Sent)
	}
	if rep.Accepted+rep.Rejected+rep.Failed != rep.Sent {
		t.Fatalf("answers %d+%d+%d do not add up to %d sent", rep.Accepted, rep.Rejected, rep.Failed, rep.Sent)
	}
	if rep.RejectedValid != 0 || rep.AcceptedInvalid != 0 || rep.Failed != 0 {
		t.Fatalf("valid events rejected %d, invalid accepted %d, failed %d; want 0", rep.RejectedValid, rep.AcceptedInvalid, rep.Failed)
	}
	// Five standard deviations of a 10% share over this many events.
	tolerance := 5 * math.Sqrt(0.1*0.9/float64(rep.Sent))
	if share := float64(rep.Rejected) / float64(rep.Sent); math.Abs(share-0.1) > tolerance {
		t.Fatalf("rejected share %.3f of %d, want 0.1 ± %.3f", share, rep.Sent, tolerance)
	}
	if rep.P50 <= 0 || rep.P99 < rep.P50 || rep.Max < rep.P99 {
		t.Fatalf("latencies p50 %s p99 %s max %s are not ordered", rep.P50, rep.P99, rep.Max)
	}
	// Every accepted event is on the topic, with the id loadgen reported.
	onTopic := map[string]bool{}
	for _, m := range stack.Published(envelope.EventsTopic) {
		onTopic[m.Attributes[envelope.AttrEventID]] = true
	}
	accepted := strings.Fields(ids.String())
	if int64(len(accepted)) != rep.Accepted || len(onTopic) != len(accepted) {
		t.Fatalf("%d accepted ids written, %d on the topic, report says %d", len(accepted), len(onTopic), rep.Accepted)
	}
	for _, id := range accepted {
		if !onTopic[id] {
			t.Fatalf("accepted event %s is not on the topic", id)
		}
	}
	// Every rejected event is recorded as a failed event.
	failed := map[string]bool{}
	for _, m := range stack.Published(envelope.FailedTopic) {
		failed[m.Attributes[envelope.AttrEventID]] = true
	}
	rejected := strings.Fields(rejIDs.String())
	if int64(len(rejected)) != rep.Rejected {
		t.Fatalf("%d rejected ids written, report says %d", len(rejected), rep.Rejected)
	}
	for _, id := range rejected {
		if !failed[id] {
			t.Fatalf("rejected event %s is not on the failed topic", id)
		}
	}
	if !strings.Contains(progress.String(), "accepted") {
		t.Fatalf("no progress lines: %q", progress.String())
	}
}

func TestPrintWritesEnvelopesForEmit(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := loadgen.Print(&out, 20, []string{"shop.orders.v1.OrderPlaced"}, 0, 1); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"type":"shop.orders.v1.OrderPlaced"`) || !strings.Contains(l, `"payload":{"orderId":`) {
			t.Fatalf("line is not an OrderPlaced envelope: %s", l)
		}
	}
}
