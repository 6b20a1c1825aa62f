package console_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hemlabs/hem/console"
)

// BenchmarkFailedPages measures the failed-events pages and Find against
// a warehouse with a million failures over 30 days (in a few hundred
// groups) and a million order rows: each page's p95 in ms.
func BenchmarkFailedPages(b *testing.B) {
	h := newHarness(b)
	now := time.Now()
	h.emit(b, h.event(b, orderPlaced, "e-bad-1", badOrder(b), now), h.event(b, orderPlaced, "e-good-1", fixedOrder(b), now))
	if _, err := h.wh.DB().ExecContext(b.Context(), "SELECT 1"); err != nil {
		b.Fatal(err)
	}
	const failures, orders = 1_000_000, 1_000_000
	db := h.wh.DB()
	if _, err := db.ExecContext(b.Context(), fmt.Sprintf(`INSERT INTO _failed_events (_event_id, stage, reason, message, violations, type, event_id, failed_at, original)
		SELECT 'bench-m' || i, 'STAGE_VALIDATE', 'REASON_VALIDATION_FAILED', 'bad',
		  [{'field_path': 'f' || (i %% 50), 'rule_id': 'rule.' || (i %% 7), 'message': 'bad'}],
		  'shop.orders.v1.T' || (i %% 3), 'e' || i, now() - to_seconds(i * 2592000 // %d), NULL
		FROM range(%d) t(i) ORDER BY i DESC`, failures, failures)); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(b.Context(), fmt.Sprintf(`INSERT INTO shop_orders_v1_order_placed (_event_id, _event_time, order_id, store_id)
		SELECT 'o' || i, now(), 'id' || i, 'S-' || (i %% 100) FROM range(%d) t(i)`, orders)); err != nil {
		b.Fatal(err)
	}
	s, err := console.New(console.Deps{Registry: h.registry, Warehouse: h.warehouse, Auth: console.KeyAuth(testKey), Collector: h.resender})
	if err != nil {
		b.Fatal(err)
	}
	for _, pg := range []struct{ name, path string }{
		{"groups_7d", "/ui/failed"},
		{"groups_30d", "/ui/failed?since=30d"},
		{"group", "/ui/failed/group?type=shop.orders.v1.T1&reason=REASON_VALIDATION_FAILED&rule=rule.1&path=f1&since=30d"},
		{"find_accepted", "/ui/events?id=o777777"},
		{"find_failed", "/ui/events?id=e777777"},
		{"find_unknown", "/ui/events?id=nope"},
	} {
		b.Run(pg.name, func(b *testing.B) {
			var ms []float64
			for b.Loop() {
				start := time.Now()
				req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, pg.path, nil)
				req.Header.Set("X-Api-Key", testKey)
				rec := &recorder{header: http.Header{}}
				s.Handler().ServeHTTP(rec, req)
				if rec.status != 0 && rec.status >= 500 {
					b.Fatalf("%s: %d", pg.path, rec.status)
				}
				ms = append(ms, float64(time.Since(start).Microseconds())/1000)
			}
			slices.Sort(ms)
			b.ReportMetric(ms[len(ms)*95/100], "p95-ms")
		})
	}
}

type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(s int)           { r.status = s }
