package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/contract"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
)

// sqlWarehouse is console.Warehouse over sink/duckdb, as
// internal/wiring.DuckDBWarehouse (the wiring cannot be imported here).
type sqlWarehouse struct{ w *duckdb.Warehouse }

func (d sqlWarehouse) Query(ctx context.Context, q string, limit int, args ...any) (*console.Result, error) {
	res, err := d.w.Select(ctx, q, limit, args...)
	if err != nil {
		return nil, err
	}
	return &console.Result{Columns: res.Columns, Rows: res.Rows, Truncated: res.Truncated}, nil
}
func (sqlWarehouse) Estimate(context.Context, string) (int64, bool, error) { return 0, false, nil }
func (sqlWarehouse) Dialect() string                                       { return "duckdb" }
func (sqlWarehouse) Table(name string) string                              { return `"` + name + `"` }

// Values of the sample contract's PII fields, as stored, that no page may
// show a viewer without MaySeePII.
var piiValues = []string{"hash-of-ada@example.com", "hash-of-+31612345678", "Ada Lovelace", "Keizersgracht"}

// sqlStack is a registry with the sample contracts, a DuckDB warehouse with
// three MemberRegistered rows (PII as stored), and a console per viewer.
func sqlStack(t *testing.T) (reg console.Registry, wh console.Warehouse) {
	t.Helper()
	ctx := t.Context()
	rc := startRegistry(t)
	src := pushSamples(t, rc)
	w, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	sc, err := src.Schema("shop.members.v1.MemberRegistered")
	if err != nil {
		t.Fatal(err)
	}
	sc = sc.WithIdentity(1, 1, contract.Usable, time.Now())
	var events []*sink.Event
	for i, tier := range []membersv1.Tier{membersv1.Tier(1), membersv1.Tier(2), membersv1.Tier(1)} {
		m := &membersv1.MemberRegistered{
			MemberId: []string{"m-1", "m-2", "m-3"}[i], Email: piiValues[0], Phone: piiValues[1], FullName: piiValues[2],
			Address: nil, Tier: tier, RegisteredAt: timestamppb.Now(), HomeStoreId: "ams-01",
		}
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		dm := sc.NewMessage()
		if err := proto.Unmarshal(data, dm); err != nil {
			t.Fatal(err)
		}
		events = append(events, &sink.Event{ID: m.MemberId, Schema: sc, Payload: data, Message: dm, EventTime: time.Now()})
	}
	if err := w.Write(ctx, &sink.Batch{Subject: sc.Subject, Events: events}); err != nil {
		t.Fatal(err)
	}
	return rc, sqlWarehouse{w}
}

// piiAuth lets in whoever has testKey, allowed to see PII or not.
type piiAuth struct {
	console.Authenticator
	seePII bool
}

func (a piiAuth) Authenticate(r *http.Request) (console.Viewer, error) {
	v, err := a.Authenticator.Authenticate(r)
	v.MaySeePII = a.seePII
	return v, err
}

func sqlConsole(t *testing.T, reg console.Registry, wh console.Warehouse, seePII bool) *httptest.Server {
	t.Helper()
	s, err := console.New(console.Deps{Registry: reg, Auth: piiAuth{console.KeyAuth(testKey), seePII}, Warehouse: wh})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func runSQL(t *testing.T, ts *httptest.Server, q string, limit string) page {
	t.Helper()
	return postPage(t, ts.URL, "/ui/sql", url.Values{"q": {q}, "limit": {limit}})
}

const members = "shop_members_v1_member_registered"

// Whatever the query does with a PII column, a viewer without MaySeePII
// sees masks: the table is replaced by a masked subquery before the query
// runs. Queries that could reach around the masks are refused.
func TestSQLMasksPII(t *testing.T) {
	t.Parallel()
	reg, wh := sqlStack(t)
	masked := sqlConsole(t, reg, wh, false)
	tests := []struct {
		name   string
		q      string
		status int
		want   []string
	}{
		{"select star", "SELECT * FROM " + members, 200, []string{"•••• (pii: HASH)", "•••• (pii: REDACT)", "m-1", "ams-01"}},
		{"named columns", "SELECT member_id, email, full_name FROM " + members + " ORDER BY member_id", 200, []string{"m-1", "•••• (pii: HASH)"}},
		{"qualified with main", "SELECT email FROM main." + members, 200, []string{"•••• (pii: HASH)"}},
		{"alias and filter on PII", "SELECT m.member_id FROM " + members + " AS m WHERE m.email LIKE 'hash-of-ada%'", 200, []string{"No rows"}},
		{"row as struct", "SELECT t FROM " + members + " t", 200, []string{"•••• (pii: HASH)"}},
		{"subquery", "SELECT (SELECT max(phone) FROM " + members + ") AS p", 200, []string{"•••• (pii: HASH)"}},
		{"in a CTE", "WITH x AS (SELECT email FROM " + members + ") SELECT * FROM x", 200, []string{"•••• (pii: HASH)"}},
		{"latest view", "SELECT email FROM " + members + "_latest", 200, []string{"•••• (pii: HASH)"}},
		{"aggregate", "SELECT count(*) AS n, count(DISTINCT tier) AS tiers FROM " + members, 200, []string{"3", "2"}},
		{"another schema", "SELECT * FROM information_schema.tables", 400, []string{"reads hem's event tables only"}},
		{"a table function", "SELECT * FROM query_table('" + members + "')", 400, []string{"query_table() could read data around the PII masks"}},
		{"a CTE shadowing a table", "WITH " + members + " AS (SELECT 1) SELECT * FROM (SELECT 1) s", 400, []string{"is also a table's"}},
		{"unknown table", "SELECT * FROM nope", 400, []string{`There is no event table "nope"`}},
		{"malformed", "SELEC 1", 400, []string{"syntax error"}},
		{"two statements", "SELECT 1; SELECT 2", 400, []string{"Only one SELECT statement"}},
		{"not a select", "DROP TABLE " + members, 400, []string{"Only a SELECT runs here"}},
		{"range is fine", "SELECT sum(range) AS s FROM range(4)", 200, []string{"6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := runSQL(t, masked, tt.q, "100")
			if p.Status != tt.status {
				t.Errorf("status %d, want %d: %s", p.Status, tt.status, p.text())
			}
			mustContain(t, p, tt.want...)
			for _, v := range piiValues {
				if strings.Contains(p.Body, v) && !strings.Contains(tt.q, v[:8]) {
					t.Errorf("the page shows the PII value %q", v)
				}
			}
		})
	}
}

// A viewer who may see PII sees the values as stored; malformed queries
// get the warehouse's message; the row limit says when it cut.
func TestSQLRunsForPIIViewers(t *testing.T) {
	t.Parallel()
	reg, wh := sqlStack(t)
	open := sqlConsole(t, reg, wh, true)
	p := runSQL(t, open, "SELECT email FROM "+members, "100")
	if p.Status != 200 {
		t.Fatalf("status %d: %s", p.Status, p.text())
	}
	mustContain(t, p, piiValues[0], "3 rows")
	p = runSQL(t, open, "SELECT member_id FROM "+members+" ORDER BY 1", "10")
	mustContain(t, p, "3 rows")
	p = runSQL(t, open, "SELECT range FROM range(50)", "10")
	mustContain(t, p, "10 rows", "only the first 10 are shown")
	p = runSQL(t, open, "SELECT nope FROM "+members, "10")
	if p.Status != 400 {
		t.Errorf("unknown column: status %d", p.Status)
	}
	mustContain(t, p, "The query did not run", `"nope" not found`)
	if p := runSQL(t, open, "SELECT 1", "5000"); p.Status != 400 {
		t.Errorf("limit 5000: status %d, want 400", p.Status)
	}
	if p := runSQL(t, open, "  ", "10"); p.Status != 400 || !strings.Contains(p.text(), "Write a query first") {
		t.Errorf("empty query: %d %s", p.Status, p.text())
	}
}

// estimator is a BigQuery-like warehouse: it can say what a query scans.
type estimator struct {
	console.Warehouse
	ran *int
}

func (estimator) Estimate(context.Context, string) (int64, bool, error) { return 3 << 30, true, nil }
func (estimator) Dialect() string                                       { return "bigquery" }
func (e estimator) Query(ctx context.Context, q string, limit int, args ...any) (*console.Result, error) {
	*e.ran++
	return &console.Result{Columns: []string{"n"}, Rows: [][]any{{int64(7)}}}, nil
}

// BigQuery: the bytes first, then the run; without PII rights, no SQL.
func TestSQLEstimatesBeforeRunning(t *testing.T) {
	t.Parallel()
	ran := 0
	wh := estimator{ran: &ran}
	open := sqlConsole(t, noRegistry{}, wh, true)
	p := runSQL(t, open, "SELECT count(*) AS n FROM `p.d.t`", "100")
	if p.Status != 200 || ran != 0 {
		t.Fatalf("estimate: status %d, ran %d times", p.Status, ran)
	}
	mustContain(t, p, "would scan 3.0 GiB", "Run (scans 3.0 GiB)")
	p = postPage(t, open.URL, "/ui/sql", url.Values{"q": {"SELECT count(*) AS n FROM `p.d.t`"}, "step": {"run"}})
	if p.Status != 200 || ran != 1 {
		t.Fatalf("run: status %d, ran %d times", p.Status, ran)
	}
	mustContain(t, p, "1 row")
	masked := sqlConsole(t, noRegistry{}, wh, false)
	if p := runSQL(t, masked, "SELECT 1", "10"); p.Status != 403 || ran != 1 {
		t.Errorf("a viewer without PII rights on BigQuery: status %d, ran %d", p.Status, ran)
	}
}
