package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

func retryInfo(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// One key holding as many requests in flight as it can (Pub/Sub stalls)
// takes at most its share of the budget: another key still gets in, and
// the hammering key is told when to retry.
func TestOneProducerCannotStarveAnother(t *testing.T) {
	t.Parallel()
	ps := collector.DefaultPublishSettings()
	ps.Timeout = 3 * time.Second
	const batch = 2048
	st := start(t,
		collector.WithLimits(collector.Limits{MaxBatchBytes: batch}),
		// A gRPC request is charged 5x its size: room for 4 full ones.
		collector.WithMaxInflightBytes(4*5*batch),
		collector.WithPublishSettings(ps),
	)
	st.Keyring.Add("ka", auth.Principal{Name: "hammer", Types: []string{"*"}}) // default share: half
	st.Keyring.Add("kb", auth.Principal{Name: "quiet", Types: []string{"*"}})
	c := dial(t, st.Addr)
	ev := func(id string) *eventv1.Event { return event(t, id, orderPlaced(10)) } // ~600 bytes

	st.Outage.Set(true) // every request stays in flight until its publish times out
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused []error
	for i := range 8 {
		wg.Go(func() {
			_, err := collect(t, c, "ka", ev(fmt.Sprintf("a%d-1", i)), ev(fmt.Sprintf("a%d-2", i)), ev(fmt.Sprintf("a%d-3", i)))
			if err != nil {
				mu.Lock()
				refused = append(refused, err)
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.Outage.Refused() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // every hammering request has arrived
	_, err := collect(t, c, "kb", ev("b1"), ev("b2"), ev("b3"))
	if status.Code(err) == codes.ResourceExhausted {
		t.Errorf("the quiet key was refused while the other held the budget: %v", err)
	}
	wg.Wait()
	if len(refused) == 0 {
		t.Fatal("the hammering key was never refused")
	}
	for _, err := range refused {
		if status.Code(err) != codes.ResourceExhausted || retryInfo(err) <= 0 {
			t.Errorf("hammering key refused with %v (retry info %v), want RESOURCE_EXHAUSTED with a delay", err, retryInfo(err))
		}
	}
}

// A key over its rate is refused with the delay after which it fits, over
// gRPC (RetryInfo) and HTTP (429 with Retry-After); other keys are not.
func TestRateQuota(t *testing.T) {
	t.Parallel()
	st := start(t, collector.WithLimits(collector.Limits{MaxBatchEvents: 5}))
	st.Keyring.Add("slow", auth.Principal{Name: "slow", Types: []string{"*"}, Quota: auth.Quota{Rate: 0.2, InflightShare: 1}})
	c := dial(t, st.Addr)
	five := func(p string) []*eventv1.Event {
		var out []*eventv1.Event
		for i := range 5 {
			out = append(out, event(t, fmt.Sprintf("%s%d", p, i), orderPlaced(1)))
		}
		return out
	}
	// The burst is one full batch (5 events): the first passes, the second
	// must wait up to 5 events / 0.2 per second.
	if _, err := collect(t, c, "slow", five("s")...); err != nil {
		t.Fatal(err)
	}
	_, err := collect(t, c, "slow", five("t")...)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second batch: %v, want RESOURCE_EXHAUSTED", err)
	}
	if d := retryInfo(err); d <= 0 || d > 25*time.Second {
		t.Errorf("retry delay %v, want up to 25s", d)
	}
	body := `{"events": [{"eventId": "h", "payload": {"@type": "type.googleapis.com/shop.orders.v1.OrderPlaced"}}]}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+st.HTTPAddr+"/v1/events", strings.NewReader(body))
	req.Header.Set("X-Api-Key", "slow")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 5 {
		t.Errorf("HTTP: %d Retry-After %q, want 429 and 1 to 5 (one event at 0.2 per second)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Others are not limited by it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for range 3 {
		resp, err := c.Collect(withKey(ctx, "hem_test_key"), &collectorv1.CollectRequest{Events: five("o")})
		if err != nil {
			t.Fatalf("another key: %v", err)
		}
		_ = resp
	}
}
