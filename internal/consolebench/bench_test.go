package consolebench_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the warehouse's driver, to write the rows directly

	"github.com/hemlabs/hem/internal/devstack"
)

// Rows of the benchmark's warehouse: orders, and a share of failures like a
// pipeline that rejects one event in twenty.
const (
	orders   = 9_500_000
	failures = 500_000
)

func startStack(b *testing.B, dir string) *devstack.Stack {
	b.Helper()
	st, err := devstack.Start(b.Context(), devstack.Config{Dir: dir, ProtoDir: "../../proto", DrainTimeout: 20 * time.Second,
		PubSubAddr: "127.0.0.1:0", GCSAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0",
		CollectorAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if st.PushErr != nil {
		b.Fatal(st.PushErr)
	}
	return st
}

// post sends body to path on hem dev's HTTP port with the dev key.
func post(b *testing.B, st *devstack.Stack, path string, body any) []byte {
	b.Helper()
	status, out := try(b, st, path, body)
	if status != http.StatusOK {
		b.Fatalf("%s: %d %s", path, status, out)
	}
	return out
}

func try(b *testing.B, st *devstack.Stack, path string, body any) (int, []byte) {
	b.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, "http://"+st.HTTPAddr+path, bytes.NewReader(raw))
	req.Header.Set("X-Api-Key", st.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// buildWarehouse makes a hem dev folder whose warehouse holds orders rows of
// shop.orders.v1.OrderPlaced and failures rows of _failed_events. hem dev
// creates the tables (one failed event creates _failed_events); DuckDB then
// fills them from range(), which takes seconds where sending the events
// would take hours.
func buildWarehouse(b *testing.B, dir string) {
	b.Helper()
	began := time.Now()
	st := startStack(b, dir)
	bad, err := os.ReadFile("../../examples/bad-order.json")
	if err != nil {
		b.Fatal(err)
	}
	var payload map[string]any
	_ = json.Unmarshal(bad, &payload)
	payload["@type"] = "type.googleapis.com/shop.orders.v1.OrderPlaced"
	post(b, st, "/v1/events", map[string]any{"events": []any{map[string]any{"payload": payload}}})
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The failed sink creates the table with its first row.
		if status, _ := try(b, st, "/v1/sql", map[string]string{"query": "select 1 from _failed_events"}); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("_failed_events was not created")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := st.Close(context.WithoutCancel(b.Context())); err != nil {
		b.Fatal(err)
	}

	db, err := sql.Open("duckdb", filepath.Join(dir, "warehouse.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		fmt.Sprintf(`insert into shop_orders_v1_order_placed by name
select
  '01900000-0000-7000-8000-' || lpad(to_hex(i), 12, '0') as _event_id,
  now() - interval 30 day + to_seconds(i * 30 * 86400 // %[1]d) as _event_time,
  _event_time + interval 40 millisecond as _received_at,
  _event_time + interval 60 millisecond as _published_at,
  1 as _schema_id, 1 as _schema_version, 'shop-app' as _producer,
  'a' || lpad(to_hex(i * 7919 %% 268435456), 7, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0') as order_id,
  'M-' || lpad((i %% 200000)::varchar, 6, '0') as member_id,
  'S-' || lpad((i %% 60)::varchar, 3, '0') as store_id,
  ['CHANNEL_WEB', 'CHANNEL_APP', 'CHANNEL_STORE'][i %% 3 + 1] as channel,
  [{'sku': 'SKU-' || (i %% 5000), 'quantity': 1 + i %% 4, 'unit_price': {'currency_code': 'EUR', 'amount_micros': 990000 + (i %% 50) * 100000}, 'name': 'Product ' || (i %% 5000)}] as items,
  {'currency_code': 'EUR', 'amount_micros': (1 + i %% 4) * (990000 + (i %% 50) * 100000)} as total,
  _event_time as placed_at,
  'S-' || lpad((i %% 60)::varchar, 3, '0') as pickup_store_id,
  false as gift, '' as gift_message
from range(%[1]d) t(i)`, orders),
		// Failures repeat the one hem dev recorded (its original decodes) under
		// other ids, types, rules and times.
		fmt.Sprintf(`insert into _failed_events by name
select
  (1000 + i)::varchar as _event_id,
  now() - interval 30 day + to_seconds(i * 30 * 86400 // %[1]d) as _event_time,
  _event_time as failed_at,
  _event_time + interval 60 millisecond as _published_at,
  0 as _schema_id, 1 as _schema_version, 'dev' as _producer,
  f.stage, f.reason, f.message,
  [{'field_path': ['order_id', 'items[0].quantity', 'email', 'total', 'placed_at'][i %% 5 + 1],
    'rule_id': ['string.uuid', 'int32.gt_lte', 'string.email', 'required', 'required'][i %% 5 + 1],
    'message': 'must be valid'}] as violations,
  ['shop.orders.v1.OrderPlaced', 'shop.orders.v1.OrderPlaced', 'shop.members.v1.MemberRegistered', 'shop.orders.v1.OrderPlaced', 'shop.products.v1.PriceChanged'][i %% 5 + 1] as type,
  f.schema_id,
  '01910000-0000-7000-8000-' || lpad(to_hex(i), 12, '0') as event_id,
  ['shop-app', 'shop-web', 'pos'][i %% 3 + 1] as producer,
  1 as attempts, f.original
from range(%[1]d) t(i), (select * from _failed_events limit 1) f`, failures),
		"checkpoint",
	} {
		if _, err := db.ExecContext(b.Context(), q); err != nil {
			b.Fatalf("%v\n%s", err, q)
		}
	}
	b.Logf("a warehouse of %d orders and %d failed events built in %v", orders, failures, time.Since(began).Round(time.Millisecond))
}

// page is one console page the benchmark requests; with form, a POST.
type page struct {
	name, path string
	form       url.Values
}

var pages = []page{
	{"contracts", "/ui/contracts", nil},
	{"contract", "/ui/contracts/shop.orders.v1.OrderPlaced", nil},
	{"version", "/ui/contracts/shop.orders.v1.OrderPlaced/v/1", nil},
	{"diff", "/ui/contracts/shop.orders.v1.OrderPlaced/diff?from=1&to=1", nil},
	{"live", "/ui/live", nil},
	{"failed", "/ui/failed", nil},
	{"failed-group", "/ui/failed/group?type=shop.orders.v1.OrderPlaced&reason=REASON_VALIDATION_FAILED&rule=string.uuid&path=order_id", nil},
	{"find", "/ui/events?id=01900000-0000-7000-8000-000000400000", nil},
	{"find-failed", "/ui/events?id=01910000-0000-7000-8000-000000040000", nil},
	{"sources", "/ui/sources", nil},
	{"sql", "/ui/sql", nil},
	{"sql-by-channel", "/ui/sql", url.Values{"q": {"select channel, count(*) from shop_orders_v1_order_placed group by 1"}}},
	{"archive", "/ui/archive", nil},
}

// shared is the hem dev over the 10-million-row warehouse: built once per
// process (minutes on a busy 2-core machine), so -count reruns reuse it.
var shared struct {
	once sync.Once
	dir  string
	st   *devstack.Stack
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.st != nil {
		_ = shared.st.Close(context.Background())
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// stack returns the shared hem dev, building its warehouse the first time.
func stack(b *testing.B) *devstack.Stack {
	b.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "hem-consolebench-")
		if err != nil {
			b.Fatal(err)
		}
		shared.dir = dir
		buildWarehouse(b, dir)
		began := time.Now()
		shared.st = startStack(b, dir)
		b.Logf("hem dev started over it in %v", time.Since(began).Round(time.Millisecond))
	})
	if shared.st == nil {
		b.Fatal("the benchmark's warehouse was not built (see the first failure)")
	}
	return shared.st
}

// BenchmarkConsolePages requests each page of the console over a warehouse
// of 10 million rows and reports its p95 in milliseconds.
func BenchmarkConsolePages(b *testing.B) {
	st := stack(b)
	client := &http.Client{Timeout: time.Minute}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			get := func() time.Duration {
				req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, "http://"+st.HTTPAddr+p.path, nil)
				if p.form != nil {
					req, _ = http.NewRequestWithContext(b.Context(), http.MethodPost, "http://"+st.HTTPAddr+p.path, strings.NewReader(p.form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				req.Header.Set("X-Api-Key", st.APIKey)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				took := time.Since(start)
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d %.300s", p.path, resp.StatusCode, body)
				}
				return took
			}
			get() // warm: templates, the registry client's cache
			var took []time.Duration
			for b.Loop() {
				took = append(took, get())
			}
			b.ReportMetric(p95(took), "p95-ms")
		})
	}
}

// p95 is the 95th percentile of d in milliseconds (nearest rank).
func p95(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	i := (len(s)*95+99)/100 - 1
	return float64(s[i].Microseconds()) / 1000
}
