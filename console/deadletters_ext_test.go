package console_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"time"

	"github.com/hemlabs/hem/console"
)

// fakeDeadLetters is a dead-letter subscription: Pull returns the
// messages not acked yet, Ack removes one (or fails, when failAck).
type fakeDeadLetters struct {
	mu      sync.Mutex
	msgs    []console.DeadLetter
	acked   []string
	failAck bool
}

func (f *fakeDeadLetters) Pull(_ context.Context, sub string, max int) ([]console.DeadLetter, error) {
	if sub != "hem-events-bigquery-dead-letter" {
		return nil, status.Errorf(codes.NotFound, "subscription %s: not found", sub)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []console.DeadLetter
	for _, m := range f.msgs {
		if len(out) < max && !slices.Contains(f.acked, m.AckID) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeDeadLetters) Ack(_ context.Context, _, ackID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAck {
		return errors.New("ack: deadline exceeded")
	}
	f.acked = append(f.acked, ackID)
	return nil
}

func (f *fakeDeadLetters) ackedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acked)
}

// TestDeadLetterRedrive: each message is acked only after the collector
// accepted its resend; a still-invalid one stops an all-or-none redrive
// and is never acked; a failed ack or a collector outage leaves messages
// on the subscription.
func TestDeadLetterRedrive(t *testing.T) {
	t.Parallel()
	const sub = "hem-events-bigquery-dead-letter"
	tests := []struct {
		name      string
		mode      string
		failAck   bool
		outage    bool
		status    int
		wantAcked string
		want      []string
	}{
		{"all or none with one invalid", "all", false, false, 422, "[]", []string{"Nothing was sent: 1 of 2 events are still invalid", "d-good shop.orders.v1.OrderPlaced not sent", "not acked: stays on the subscription"}},
		{"only those that pass", "passing", false, false, 200, "[ack-good]", []string{"Replayed 1 events that pass", "d-good shop.orders.v1.OrderPlaced accepted resent and accepted acked", "d-bad shop.orders.v1.OrderPlaced still invalid"}},
		{"the ack fails", "passing", true, false, 503, "[]", []string{"resent, but the ack failed"}},
		{"the collector is down", "passing", false, true, 503, "[]", []string{"The collector failed after 0 of 1 events were answered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			now := time.Now()
			dl := &fakeDeadLetters{failAck: tt.failAck, msgs: []console.DeadLetter{
				{AckID: "ack-good", Event: h.event(t, orderPlaced, "d-good", fixedOrder(t), now)},
				{AckID: "ack-bad", Event: h.event(t, orderPlaced, "d-bad", badOrder(t), now)},
			}}
			if tt.outage {
				h.resender.refuse = errors.New("collector: unavailable")
			}
			ts, audit := failedConsole(t, h, console.KeyAuth(testKey), func(d *console.Deps) { d.DeadLetters = dl })
			p := postPage(t, ts.URL, "/ui/failed/deadletters", url.Values{"subscription": {sub}, "mode": {tt.mode}})
			if p.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", p.Status, tt.status, p.text())
			}
			mustContain(t, p, tt.want...)
			if got := fmt.Sprint(dl.ackedIDs()); got != tt.wantAcked {
				t.Errorf("acked %s, want %s", got, tt.wantAcked)
			}
			es, _ := audit.List(t.Context(), 10)
			if sent := tt.mode == "passing" && !tt.outage; (len(es) == 1) != sent {
				t.Errorf("audit %+v; want one entry only when something was sent", es)
			}
		})
	}
	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		ts, _ := failedConsole(t, h, console.KeyAuth(testKey), func(d *console.Deps) { d.DeadLetters = &fakeDeadLetters{} })
		for _, tc := range []struct {
			form   url.Values
			status int
			want   string
		}{
			{url.Values{}, 400, "Name the dead-letter subscription to redrive."},
			{url.Values{"subscription": {sub}, "max": {"0"}}, 400, `The number of messages "0" is not between 1 and 500.`},
			{url.Values{"subscription": {sub}}, 404, "has no dead-letter messages to redrive now"},
			{url.Values{"subscription": {"nope"}}, 404, "subscription nope: not found"},
		} {
			p := postPage(t, ts.URL, "/ui/failed/deadletters", tc.form)
			if p.Status != tc.status {
				t.Errorf("%v: status %d, want %d: %s", tc.form, p.Status, tc.status, p.text())
			}
			mustContain(t, p, tc.want)
		}
		if p := get(t, ts, "/ui/failed/deadletters"); p.Status != http.StatusOK {
			t.Errorf("GET: %d %s", p.Status, p.text())
		}
	})
}
