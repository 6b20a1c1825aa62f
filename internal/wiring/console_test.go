package wiring_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/console/monitoringtest"
	"github.com/hemlabs/hem/contract"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/sink/duckdb"
)

func TestDuckDBWarehouse(t *testing.T) {
	t.Parallel()
	w, err := duckdb.Open(t.Context(), filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	for _, q := range []string{
		`create table "shop_orders_v1_order_placed" (id integer, v varchar)`,
		`insert into "shop_orders_v1_order_placed" values (1, 'a'), (2, 'b'), (3, 'c')`,
	} {
		if _, err := w.DB().ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	wh := wiring.NewDuckDBWarehouse(w)
	table := wh.Table("shop_orders_v1_order_placed")
	tests := []struct {
		name      string
		q         string
		limit     int
		args      []any
		want      string
		truncated bool
		err       string
	}{
		{name: "argument", q: "select v from " + table + " where id = ?", limit: 10, args: []any{2}, want: "[[b]]"},
		{name: "limit", q: "select id from " + table + " order by id", limit: 2, want: "[[1] [2]]", truncated: true},
		{name: "malformed", q: "selec v from " + table, limit: 10, err: "syntax error"},
		{name: "read-only", q: "drop table " + table, limit: 10, err: "read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := wh.Query(t.Context(), tt.q, tt.limit, tt.args...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("%s: %v, want an error saying %q", tt.q, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Rows); got != tt.want || res.Truncated != tt.truncated {
				t.Errorf("%s: %s truncated=%v, want %s truncated=%v", tt.q, got, res.Truncated, tt.want, tt.truncated)
			}
		})
	}
	if _, ok, err := wh.Estimate(t.Context(), "select 1"); ok || err != nil {
		t.Errorf("Estimate: ok=%v err=%v; DuckDB cannot estimate", ok, err)
	}
	if wh.Dialect() != "duckdb" || wh.Table(`a"b`) != `"a""b"` {
		t.Errorf("dialect %s, table %s", wh.Dialect(), wh.Table(`a"b`))
	}
}

// fakeBigQuery answers the two REST calls the console's BigQuery warehouse
// makes: jobs.query (the client's fast path for Query.Read) and jobs.insert
// with dryRun (Estimate). sink/bigquery/bigquerytest does not run queries.
type fakeBigQuery struct {
	mu   sync.Mutex
	reqs []map[string]any
}

func (f *fakeBigQuery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req map[string]any
	_ = json.Unmarshal(b, &req)
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/projects/p/queries"):
		if strings.Contains(fmt.Sprint(req["query"]), "syntax") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"code":400,"message":"Syntax error: Unexpected identifier \"selec\" at [1:1]","errors":[{"reason":"invalidQuery","message":"Syntax error"}]}}`)
			return
		}
		fmt.Fprint(w, `{"kind":"bigquery#queryResponse","jobComplete":true,
		 "jobReference":{"projectId":"p","jobId":"j1","location":"EU"},
		 "schema":{"fields":[
		  {"name":"event_id","type":"STRING"},
		  {"name":"amount","type":"NUMERIC"},
		  {"name":"at","type":"TIMESTAMP"},
		  {"name":"day","type":"DATE"},
		  {"name":"raw","type":"BYTES"},
		  {"name":"tags","type":"STRING","mode":"REPEATED"},
		  {"name":"address","type":"RECORD","fields":[{"name":"city","type":"STRING"}]}]},
		 "totalRows":"3",
		 "rows":[
		  {"f":[{"v":"e-1"},{"v":"12.50"},{"v":"1796600000000000"},{"v":"2026-12-07"},{"v":"AAE="},{"v":[{"v":"x"},{"v":"y"}]},{"v":{"f":[{"v":"Oslo"}]}}]},
		  {"f":[{"v":"e-2"},{"v":null},{"v":null},{"v":null},{"v":null},{"v":[]},{"v":null}]},
		  {"f":[{"v":"e-3"},{"v":"1"},{"v":null},{"v":null},{"v":null},{"v":[]},{"v":null}]}]}`)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/projects/p/jobs"):
		fmt.Fprint(w, `{"kind":"bigquery#job","jobReference":{"projectId":"p","jobId":"dry"},
		 "configuration":{"dryRun":true,"query":{"query":"x"}},
		 "status":{"state":"DONE"},
		 "statistics":{"totalBytesProcessed":"123456789","query":{"totalBytesProcessed":"123456789"}}}`)
	default:
		http.Error(w, `{"error":{"code":404,"message":"not here"}}`, http.StatusNotFound)
	}
}

// VERIFY: against a fake that speaks BigQuery's REST shapes as documented
// (jobs.query, jobs.insert with dryRun), not yet against BigQuery itself.
func TestBigQueryWarehouse(t *testing.T) {
	t.Parallel()
	fake := &fakeBigQuery{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	wh, err := wiring.NewBigQueryWarehouse(t.Context(), wiring.BigQueryWarehouseConfig{Project: "p", Dataset: "events", FailedDataset: "failed", MaxBytesBilled: 1 << 30, Endpoint: srv.URL + "/bigquery/v2/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wh.Close() })

	res, err := wh.Query(t.Context(), "select * from t where event_id = ?", 2, "e-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Columns, ","); got != "event_id,amount,at,day,raw,tags,address" {
		t.Errorf("columns %s", got)
	}
	if len(res.Rows) != 2 || !res.Truncated {
		t.Fatalf("%d rows, truncated %v; want 2 of 3, truncated", len(res.Rows), res.Truncated)
	}
	got, _ := json.Marshal(res.Rows[0])
	if want := `["e-1","12.5","2026-12-06T23:33:20Z","2026-12-07","AAE=",["x","y"],{"city":"Oslo"}]`; string(got) != want {
		t.Errorf("row %s\nwant %s", got, want)
	}
	q := fake.reqs[0]
	params, _ := json.Marshal(q["queryParameters"])
	if !strings.Contains(string(params), `"value":"e-1"`) || fmt.Sprint(q["maximumBytesBilled"]) != "1073741824" ||
		!strings.Contains(fmt.Sprint(q["defaultDataset"]), "events") {
		t.Errorf("jobs.query request %v", q)
	}

	n, ok, err := wh.Estimate(t.Context(), "select * from t")
	if err != nil || !ok || n != 123456789 {
		t.Errorf("Estimate: %d %v %v, want 123456789 bytes", n, ok, err)
	}
	if dry, _ := json.Marshal(fake.reqs[len(fake.reqs)-1]); !strings.Contains(string(dry), `"dryRun":true`) {
		t.Errorf("Estimate sent %s, want a dry run", dry)
	}

	if _, err := wh.Query(t.Context(), "selec syntax", 10); err == nil || !strings.Contains(err.Error(), "Syntax error") {
		t.Errorf("malformed query: %v, want BigQuery's message", err)
	}
	if wh.Dialect() != "bigquery" || wh.Table("orders") != "`p.events.orders`" || wh.Table("_failed_events") != "`p.failed._failed_events`" {
		t.Errorf("dialect %s, tables %s %s", wh.Dialect(), wh.Table("orders"), wh.Table("_failed_events"))
	}
}

// fakeCollector answers every event ACCEPTED and records what it got.
type fakeCollector struct {
	collectorv1.UnimplementedCollectorServiceServer
	mu      sync.Mutex
	calls   int
	keys    []string
	gotIDs  []string
	maxSeen int
}

func (f *fakeCollector) Collect(ctx context.Context, req *collectorv1.CollectRequest) (*collectorv1.CollectResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.keys = append(f.keys, strings.Join(md.Get("x-api-key"), ","))
	f.maxSeen = max(f.maxSeen, len(req.GetEvents()))
	resp := &collectorv1.CollectResponse{}
	for _, e := range req.GetEvents() {
		f.gotIDs = append(f.gotIDs, e.GetEventId())
		resp.Results = append(resp.Results, &collectorv1.EventResult{EventId: e.GetEventId(), Status: collectorv1.EventStatus_EVENT_STATUS_ACCEPTED})
	}
	return resp, nil
}

func TestCollectorResenderKeepsIDsAndSendsTheKey(t *testing.T) {
	t.Parallel()
	fake := &fakeCollector{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	collectorv1.RegisterCollectorServiceServer(gs, fake)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	r, err := wiring.DialCollector(lis.Addr().String(), "hem_console_key")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	var events []*eventv1.Event
	for i := range 250 {
		events = append(events, &eventv1.Event{EventId: fmt.Sprintf("e-%03d", i), Payload: &anypb.Any{TypeUrl: "type.googleapis.com/shop.orders.v1.OrderPlaced"}})
	}
	res, err := r.Resend(t.Context(), events)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 250 || res[249].GetEventId() != "e-249" {
		t.Fatalf("%d results", len(res))
	}
	for i, id := range fake.gotIDs {
		if id != events[i].GetEventId() {
			t.Fatalf("event %d arrived with id %s, want %s", i, id, events[i].GetEventId())
		}
	}
	if fake.calls != 3 || fake.maxSeen > 100 {
		t.Errorf("%d calls of at most %d events, want 3 of at most 100", fake.calls, fake.maxSeen)
	}
	for _, k := range fake.keys {
		if k != "hem_console_key" {
			t.Errorf("call with key %q", k)
		}
	}
	// An event without an id would become a new event (a second row).
	if _, err := r.Resend(t.Context(), []*eventv1.Event{{Payload: &anypb.Any{TypeUrl: "x"}}}); err == nil {
		t.Error("an event without an id was resent")
	}
}

// emptyRegistry is a registry with no subjects.
type emptyRegistry struct{}

func (emptyRegistry) Subjects(context.Context) ([]*registryv1.SubjectInfo, error) { return nil, nil }
func (emptyRegistry) Versions(context.Context, string) ([]*registryv1.Schema, error) {
	return nil, nil
}
func (emptyRegistry) Version(context.Context, string, int) (*contract.Schema, error) {
	return nil, fmt.Errorf("no versions")
}
func (emptyRegistry) Register(context.Context, *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	return &registryv1.RegisterResponse{}, nil
}

var _ console.Registry = emptyRegistry{}

func TestConsoleConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*wiring.ConsoleConfig)
		want string
	}{
		{name: "iap without audience", edit: func(c *wiring.ConsoleConfig) {}, want: "IAP audience"},
		{name: "key without key", edit: func(c *wiring.ConsoleConfig) { c.Auth = "key" }, want: "API key"},
		{name: "unknown auth", edit: func(c *wiring.ConsoleConfig) { c.Auth = "none" }, want: `auth "none"`},
		{name: "dataset without project", edit: func(c *wiring.ConsoleConfig) { c.Auth, c.APIKey, c.BigQuery.Dataset = "key", "k", "events" }, want: "project and a dataset"},
		{name: "short secret", edit: func(c *wiring.ConsoleConfig) { c.Auth, c.APIKey, c.Secret = "key", "k", "short" }, want: "16 bytes"},
		{name: "key", edit: func(c *wiring.ConsoleConfig) { c.Auth, c.APIKey = "key", "k" }},
		{name: "iap", edit: func(c *wiring.ConsoleConfig) { c.IAPAudience = "/projects/1/global/backendServices/2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := wiring.DefaultConsoleConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNewConsoleWithAKey(t *testing.T) {
	t.Parallel()
	cfg := wiring.DefaultConsoleConfig()
	cfg.Auth, cfg.APIKey = wiring.ConsoleAuthKey, "hem_dev_key"
	c, err := wiring.NewConsole(t.Context(), cfg, wiring.ConsoleEnv{Registry: emptyRegistry{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		key  string
		want int
	}{{"hem_dev_key", http.StatusOK}, {"wrong", http.StatusUnauthorized}} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/ui/contracts", nil)
		req.Header.Set("X-Api-Key", tt.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("key %q: %d, want %d", tt.key, resp.StatusCode, tt.want)
		}
	}
	if _, err := wiring.NewConsole(t.Context(), cfg, wiring.ConsoleEnv{}); err == nil {
		t.Error("a console without a registry")
	}
}

// hem console serve's Live page reads Cloud Monitoring: with a monitoring
// project the page shows the subscriptions' backlog instead of saying no
// metrics source is configured.
func TestNewConsoleReadsCloudMonitoring(t *testing.T) {
	t.Parallel()
	fake := monitoringtest.Start(t, "hem-prod", map[string][]*monitoringpb.TimeSeries{
		"pubsub.googleapis.com/subscription/num_undelivered_messages": {{
			Resource: &monitoredres.MonitoredResource{Type: "pubsub_subscription", Labels: map[string]string{"subscription_id": "orders-bq"}},
			Points:   []*monitoringpb.Point{{Value: &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_Int64Value{Int64Value: 42}}}},
		}},
	})
	for _, tt := range []struct {
		name       string
		monitoring wiring.MonitoringConfig
		status     int
		want       string
	}{
		{"no project", wiring.MonitoringConfig{}, http.StatusNotFound, "no metrics source is configured"},
		{"cloud monitoring", wiring.MonitoringConfig{Project: "hem-prod", Endpoint: fake.Addr}, http.StatusOK, `"orders-bq"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := wiring.DefaultConsoleConfig()
			cfg.Auth, cfg.APIKey, cfg.Monitoring = wiring.ConsoleAuthKey, "hem_dev_key", tt.monitoring
			c, err := wiring.NewConsole(t.Context(), cfg, wiring.ConsoleEnv{Registry: emptyRegistry{}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			srv := httptest.NewServer(c.Handler())
			t.Cleanup(srv.Close)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/ui/live/data", nil)
			req.Header.Set("X-Api-Key", "hem_dev_key")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s; want %d with %s", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
}
