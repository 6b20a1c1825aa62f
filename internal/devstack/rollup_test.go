package devstack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/internal/loadgen"
	"github.com/hemlabs/hem/layers/rollup"
)

// hem dev registers the sample rollups, and hem rollup run (POST
// /v1/rollups/run) computes them from the events: every accepted order is
// counted once in the sales rollup, every reading once in the zone rollup.
func TestDevRollups(t *testing.T) {
	t.Parallel()
	st := startWith(t, devstack.Config{Dir: t.TempDir(), ProtoDir: "../../proto", RollupInterval: -1})
	c, err := client.New(t.Context(), st.CollectorAddr, client.WithAPIKey(st.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := loadgen.Run(t.Context(), c, loadgen.Config{Rate: 500, Duration: time.Second, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close(t.Context())
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if events, _ := rows(t, st); events == int(rep.Accepted) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	status, body := do(t, st, http.MethodPost, "/v1/rollups/run", strings.NewReader(`{}`), keyed(st))
	var out rollup.RunResponse
	if err := json.Unmarshal(body, &out); err != nil || status != http.StatusOK || out.Error != "" || len(out.Reports) != 2 {
		t.Fatalf("run: %d %v %s", status, err, body)
	}
	for _, r := range out.Reports {
		if !r.Backfill || len(r.Days) == 0 {
			t.Errorf("first run of %s: %+v, want a backfill", r.Rollup, r)
		}
	}
	for _, q := range []struct{ rollup, source string }{
		{"select coalesce(sum(orders), 0) from shop_orders_v1_sales_by_store_day", "select count(*) from shop_orders_v1_order_placed"},
		{"select coalesce(sum(readings), 0) from shop_telemetry_v1_zone_readings_by_hour", "select count(*) from shop_telemetry_v1_warehouse_sensor_reading"},
	} {
		got, want := sql(t, st, q.rollup)[0][0], sql(t, st, q.source)[0][0]
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(want) == "0" {
			t.Errorf("%s = %v; %s = %v", q.rollup, got, q.source, want)
		}
	}
	status, body = do(t, st, http.MethodPost, "/v1/rollups/run", strings.NewReader(`{"names": ["shop.orders.v1.Nope"]}`), keyed(st))
	if status != http.StatusNotFound || !strings.Contains(string(body), "no such rollup") {
		t.Errorf("an unknown rollup: %d %s", status, body)
	}
}
