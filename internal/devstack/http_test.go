package devstack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/internal/loadgen"
)

// header sets something on a request to the dev port.
type header func(*http.Request)

func keyed(st *devstack.Stack) header {
	return func(r *http.Request) {
		r.Header.Set("X-Api-Key", st.APIKey)
		r.Header.Set("Content-Type", "application/json")
	}
}

func set(name, value string) header { return func(r *http.Request) { r.Header.Set(name, value) } }

func host(h string) header { return func(r *http.Request) { r.Host = h } }

// post sends {"query": q} to path, as hem sql does unless hs say otherwise.
func post(t *testing.T, st *devstack.Stack, path, q string, hs ...header) (int, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": q})
	return do(t, st, http.MethodPost, path, bytes.NewReader(body), hs...)
}

func do(t *testing.T, st *devstack.Stack, method, path string, body io.Reader, hs ...header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+st.HTTPAddr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		h(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// emit sends OrderPlaced events, a fifth of them invalid, and waits until
// the warehouse holds them.
func emit(t *testing.T, st *devstack.Stack) loadgen.Report {
	t.Helper()
	c, err := client.New(t.Context(), st.CollectorAddr, client.WithAPIKey(st.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	rep, err := loadgen.Run(t.Context(), c, loadgen.Config{Rate: 50, Duration: time.Second, InvalidShare: 0.2, Seed: 5,
		Subjects: []string{"shop.orders.v1.OrderPlaced"}})
	if err != nil || rep.Accepted == 0 || rep.Rejected == 0 {
		t.Fatalf("loadgen: %v %v", rep, err)
	}
	return rep
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 45 s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestDevPortAsAWebPage tries hem dev's HTTP port as a web page the
// developer visits would (no key, a simple text/plain request, its own
// Origin, a DNS-rebound Host) and as a query that reads, writes or drops:
// nothing is read, written or run. The README tour's queries still answer.
func TestDevPortAsAWebPage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := startWith(t, devstack.Config{Dir: dir, ProtoDir: "../../proto"})
	rep := emit(t, st)
	waitFor(t, "rows in the warehouse", func() bool {
		e, f := rows(t, st)
		return e == int(rep.Accepted) && f == int(rep.Rejected)
	})
	_, port, _ := net.SplitHostPort(st.HTTPAddr)
	salt, err := os.ReadFile(filepath.Join(dir, "pii-salt"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	inArchive := filepath.Join(devstack.ArchiveDir(dir), "out.csv")

	for _, tc := range []struct {
		name, method, path, query string
		headers                   []header
		status                    int
	}{
		{"no key", "POST", "/v1/sql", "select 1", []header{set("Content-Type", "application/json")}, 401},
		{"wrong key", "POST", "/v1/sql", "select 1", []header{keyed(st), set("X-Api-Key", "nope")}, 401},
		{"simple request, text/plain", "POST", "/v1/sql", "select 1", []header{keyed(st), set("Content-Type", "text/plain")}, 415},
		{"simple request, no key", "POST", "/v1/sql", "select 1", []header{set("Content-Type", "text/plain")}, 401},
		{"form", "POST", "/v1/sql", "select 1", []header{keyed(st), set("Content-Type", "application/x-www-form-urlencoded")}, 415},
		{"DNS rebinding", "POST", "/v1/sql", "select 1", []header{keyed(st), host("evil.example:" + port)}, 421},
		{"another port", "POST", "/v1/sql", "select 1", []header{keyed(st), host("127.0.0.1:1")}, 421},
		{"a page's origin", "POST", "/v1/sql", "select 1", []header{keyed(st), set("Origin", "http://evil.example")}, 403},
		{"read /etc/passwd", "POST", "/v1/sql", "select * from read_csv('/etc/passwd')", []header{keyed(st)}, 403},
		{"read the PII salt", "POST", "/v1/sql", "select * from read_text('" + filepath.Join(dir, "pii-salt") + "')", []header{keyed(st)}, 403},
		{"read the salt through the archive", "POST", "/v1/sql", "select * from read_text('" + devstack.ArchiveDir(dir) + "/../../pii-salt')", []header{keyed(st)}, 403},
		{"copy to a file", "POST", "/v1/sql", "copy _failed_events to '" + out + "'", []header{keyed(st)}, 403},
		{"copy into the archive", "POST", "/v1/sql", "copy _failed_events to '" + inArchive + "'", []header{keyed(st)}, 403},
		{"drop", "POST", "/v1/sql", "drop table shop_orders_v1_order_placed", []header{keyed(st)}, 403},
		{"delete", "POST", "/v1/sql", "delete from _failed_events", []header{keyed(st)}, 403},
		{"two statements", "POST", "/v1/sql", "select 1; drop table _failed_events", []header{keyed(st)}, 403},
		{"attach", "POST", "/v1/sql", "attach '" + filepath.Join(dir, "x.duckdb") + "'", []header{keyed(st)}, 403},
		{"unlock", "POST", "/v1/sql", "set enable_external_access = true", []header{keyed(st)}, 403},
		{"pprof", "GET", "/debug/pprof/", "", []header{keyed(st)}, 404},
		{"pprof profile", "GET", "/debug/pprof/profile?seconds=1", "", []header{keyed(st)}, 404},
		{"metrics, no key", "GET", "/metrics", "", nil, 401},
		{"metrics, DNS rebinding", "GET", "/metrics", "", []header{keyed(st), host("evil.example:" + port)}, 421},
	} {
		var status int
		var body []byte
		if tc.method == "GET" {
			status, body = do(t, st, "GET", tc.path, nil, tc.headers...)
		} else {
			status, body = post(t, st, tc.path, tc.query, tc.headers...)
		}
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
		if bytes.Contains(body, []byte("root:")) || bytes.Contains(body, bytes.TrimSpace(salt)) {
			t.Errorf("%s: the answer holds a file's content: %s", tc.name, body)
		}
	}
	for _, f := range []string{out, inArchive, filepath.Join(dir, "x.duckdb")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was written", f)
		}
	}
	if e, f := rows(t, st); e != int(rep.Accepted) || f != int(rep.Rejected) {
		t.Errorf("after the refused statements the warehouse holds %d and %d rows, want %d and %d", e, f, rep.Accepted, rep.Rejected)
	}

	// What hem sql and the README's tour do still answers, with the key in
	// either header and any loopback name.
	for _, hs := range [][]header{
		{keyed(st)},
		{set("Authorization", "Bearer "+st.APIKey), set("Content-Type", "application/json")},
		{keyed(st), host("localhost:" + port)},
		{keyed(st), host("[::1]:" + port)},
		{keyed(st), set("Origin", "http://127.0.0.1:"+port)},
	} {
		if status, body := post(t, st, "/v1/sql", "select count(*) from shop_orders_v1_order_placed", hs...); status != 200 {
			t.Errorf("%d %s, want 200", status, body)
		}
	}
	for _, q := range []string{
		"select _event_id, channel, items[1].sku, total.amount_micros, placed_at from shop_orders_v1_order_placed",
		"select type, reason, stage, violations from _failed_events",
		"select _schema_version from shop_orders_v1_order_placed",
	} {
		if got := sql(t, st, q); len(got) == 0 {
			t.Errorf("%s: no rows", q)
		}
	}
	archive := fmt.Sprintf("select type, count(*) from read_parquet('%s/events/*/*/*/*.parquet', hive_partitioning=true) group by 1", devstack.ArchiveDir(dir))
	waitFor(t, "the archive", func() bool {
		status, body := post(t, st, "/v1/sql", archive, keyed(st))
		return status == 200 && strings.Contains(string(body), fmt.Sprintf(`[["shop.orders.v1.OrderPlaced",%d]]`, rep.Accepted))
	})
}

// TestDevSQLNaN: JSON has no NaN or infinity; hem sql gets them as strings
// instead of a 200 with an empty body.
func TestDevSQLNaN(t *testing.T) {
	t.Parallel()
	st := startWith(t, devstack.Config{Dir: t.TempDir(), Sinks: []string{"duckdb"}})
	status, body := post(t, st, "/v1/sql", "select 'nan'::double as a, 'inf'::double as b, '-inf'::float as c, 2.5::double as d", keyed(st))
	if want := `{"columns":["a","b","c","d"],"rows":[["NaN","Infinity","-Infinity",2.5]]}`; status != 200 || strings.TrimSpace(string(body)) != want {
		t.Fatalf("%d %q, want 200 %s", status, body, want)
	}
}

func TestDevPProfOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	st := startWith(t, devstack.Config{Dir: t.TempDir(), Sinks: []string{"duckdb"}, PProf: true})
	if status, body := do(t, st, "GET", "/debug/pprof/", nil); status != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof with PProf: %d %.200s", status, body)
	}
	if status, _ := do(t, st, "GET", "/debug/pprof/", nil, host("evil.example")); status != 421 {
		t.Fatalf("pprof from a rebound host name: %d, want 421", status)
	}
}

// syncBuffer is a log destination shared by the stack's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDevServicesLogAndMeasure: hem dev's processors and collector log and
// record metrics as the production services do. A table that disappears
// under the DuckDB processor is logged (it was silent), and /metrics has the
// processors' and the collector's series.
func TestDevServicesLogAndMeasure(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	st := startWith(t, devstack.Config{Dir: t.TempDir(), ProtoDir: "../../proto", DrainTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	rep := emit(t, st)
	waitFor(t, "rows in the warehouse", func() bool {
		e, f := rows(t, st)
		return e == int(rep.Accepted) && f == int(rep.Rejected)
	})

	status, body := do(t, st, "GET", "/metrics", nil, keyed(st))
	if status != 200 {
		t.Fatalf("/metrics: %d %.300s", status, body)
	}
	for _, series := range []string{
		`hem_processor_messages_total{`,
		`processor="hem-events-duckdb"`,
		`processor="hem-events-archive"`,
		`processor="hem-failed-sink"`,
		`hem_collector_events_total{`,
	} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics has no %s:\n%s", series, body)
		}
	}

	if _, err := st.WarehouseDB().ExecContext(t.Context(), "drop table shop_orders_v1_order_placed"); err != nil {
		t.Fatal(err)
	}
	emit(t, st)
	waitFor(t, "a logged sink failure", func() bool {
		l := logs.String()
		return strings.Contains(l, "sink write failed") && strings.Contains(l, "sink=duckdb")
	})
}
