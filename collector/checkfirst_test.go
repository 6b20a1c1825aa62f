package collector_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
)

// The HTTP endpoint refuses a request for its count and its types before it
// decodes an event or asks the registry, as gRPC does; unknown types are
// remembered for a moment, not looked up again per event.
func TestHTTPChecksBeforeItWorks(t *testing.T) {
	t.Parallel()
	st := start(t, collector.WithLimits(collector.Limits{MaxBatchEvents: 100}))
	st.Keyring.Add("orders-only", auth.Principal{Name: "orders", Types: []string{"shop.orders.v1.*"}})
	batch := func(n int, typeOf func(i int) string) string {
		evs := make([]string, n)
		for i := range evs {
			evs[i] = fmt.Sprintf(`{"eventId": "e%d", "payload": {"@type": "type.googleapis.com/%s", "x": %d}}`, i, typeOf(i), i)
		}
		return `{"events": [` + strings.Join(evs, ",") + `]}`
	}
	unknown := func(i int) string { return fmt.Sprintf("attacker.v1.T%d", i) }
	tests := []struct {
		name   string
		key    string
		body   string
		status int
		calls  int64 // registry lookups the request may cost
	}{
		{"over the count", "hem_test_key", batch(101, unknown), http.StatusRequestEntityTooLarge, 0},
		{"types not allowed", "orders-only", batch(100, func(i int) string { return "shop.members.v1.MemberRegistered" + unknown(i) }), http.StatusForbidden, 0},
		{"one type not allowed", "orders-only", batch(100, func(i int) string {
			if i == 99 {
				return "shop.members.v1.MemberRegistered"
			}
			return "shop.orders.v1.OrderPlaced"
		}), http.StatusForbidden, 0},
		{"the same unknown type", "hem_test_key", batch(100, func(int) string { return "attacker.v1.Same" }), http.StatusOK, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the lookups are counted on the shared registry.
			before := st.Schemas.Calls()
			code, body := post(t, st, tt.key, tt.body)
			if code != tt.status {
				t.Errorf("status %d, want %d: %.300s", code, tt.status, body)
			}
			if n := st.Schemas.Calls() - before; n > tt.calls {
				t.Errorf("%d registry lookups, want at most %d", n, tt.calls)
			}
		})
	}
	// Across requests too: a type the registry did not know moments ago is
	// not looked up again.
	before := st.Schemas.Calls()
	for range 3 {
		if code, body := post(t, st, "hem_test_key", batch(1, func(int) string { return "attacker.v1.Again" })); code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
	}
	if n := st.Schemas.Calls() - before; n != 1 {
		t.Errorf("3 requests of one unknown type cost %d registry lookups, want 1", n)
	}
}
