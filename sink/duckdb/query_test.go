package duckdb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hemlabs/hem/sink/duckdb"
)

// sandboxed opens a warehouse as hem dev does: a table t with three rows,
// a Parquet object in an archive folder, a secret next to the archive, and
// the sandbox allowing only the archive.
func sandboxed(t *testing.T) (w *duckdb.Warehouse, dir, archive string) {
	t.Helper()
	dir = t.TempDir()
	archive = filepath.Join(dir, "gcs", "hem-archive")
	part := filepath.Join(archive, "events", "type=a", "dt=2026-12-06", "hour=10")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pii-salt"), []byte("salt,secret\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "w.duckdb")
	setup, err := duckdb.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"create table t (id integer primary key, v varchar)",
		"insert into t values (1, 'a'), (2, 'b'), (3, 'c')",
		fmt.Sprintf("copy (select 'e-1' as _event_id) to '%s' (format parquet)", filepath.Join(part, "x.parquet")),
	} {
		if _, err := setup.DB().ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := setup.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	w, err = duckdb.Open(t.Context(), path, duckdb.WithSandbox(archive))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w, dir, archive
}

func TestQueryRefusesWhatIsNotReadOnly(t *testing.T) {
	t.Parallel()
	w, dir, archive := sandboxed(t)
	out := filepath.Join(dir, "out.csv")
	inArchive := filepath.Join(archive, "out.csv")
	for _, q := range []string{
		"drop table t",
		"delete from t",
		"update t set v = 'x'",
		"insert into t values (4, 'd')",
		"create table u (x integer)",
		"alter table t add column w integer",
		"copy t to '" + out + "'",
		"copy t to '" + inArchive + "'",
		"export database '" + filepath.Join(dir, "export") + "'",
		"attach ':memory:' as m",
		"install httpfs",
		"load httpfs",
		"set enable_external_access = true",
		"set lock_configuration = false",
		"reset enable_external_access",
		"pragma enable_profiling",
		"call checkpoint()",
		"checkpoint",
		"vacuum",
		"begin transaction",
		"commit",
		"select 1; drop table t",
		"select 1; copy t to '" + out + "'",
		"create secret (type s3, key_id 'x', secret 'y')",
	} {
		if _, err := w.Query(t.Context(), q); err == nil {
			t.Errorf("%s: ran, want refused", q)
		}
	}
	for _, f := range []string{out, inArchive, filepath.Join(dir, "export")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was written", f)
		}
	}
	res, err := w.Query(t.Context(), "select count(*), string_agg(v, '' order by id) from t")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows[0]); got != "[3 abc]" {
		t.Fatalf("after the refused statements t holds %s, want [3 abc]", got)
	}
}

func TestQuerySandboxReadsTheArchiveAndNothingElse(t *testing.T) {
	t.Parallel()
	w, dir, archive := sandboxed(t)
	glob := filepath.Join(archive, "events", "*", "*", "*", "*.parquet")
	for _, q := range []string{
		"select * from read_csv('/etc/passwd')",
		"select * from read_text('/etc/hostname')",
		"select * from read_csv('" + filepath.Join(dir, "pii-salt") + "')",
		"select * from read_csv('" + filepath.Join(archive, "..", "..", "pii-salt") + "')",
		"select * from read_csv(['" + glob + "', '" + filepath.Join(dir, "pii-salt") + "'])",
		"select * from read_csv('file://" + filepath.Join(dir, "pii-salt") + "')",
		"select * from glob('/*')",
		"select * from read_csv('https://example.com/x.csv')",
		"select * from '" + filepath.Join(dir, "pii-salt") + "'",
		"select * from query('drop table t')",
	} {
		res, err := w.Query(t.Context(), q)
		if err == nil {
			t.Errorf("%s: ran (%v), want refused", q, res.Rows)
		}
	}
	// The sandbox holds on every connection of the pool, and a statement
	// cannot lift it.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			res, err := w.Query(t.Context(), "select current_setting('enable_external_access'), current_setting('lock_configuration')")
			if err != nil {
				t.Error(err)
				return
			}
			if got := fmt.Sprint(res.Rows[0]); got != "[false true]" {
				t.Errorf("external access, locked: %s, want [false true]", got)
			}
		})
	}
	wg.Wait()

	res, err := w.Query(t.Context(), "select type, count(*) from read_parquet('"+glob+"', hive_partitioning=true) group by 1")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Rows); got != "[[a 1]]" {
		t.Fatalf("the archive reads %s, want [[a 1]]", got)
	}
}

// TestQuerySandboxRelativeArchive is the README's tour: the archive named
// relative to the working directory, as hem dev's --dir is by default.
func TestQuerySandboxRelativeArchive(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	part := filepath.Join(".hem", "gcs", "hem-archive", "events", "type=a", "dt=2026-12-06", "hour=10")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	setup, err := duckdb.Open(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.DB().ExecContext(t.Context(), "copy (select 1 as x) to '"+filepath.Join(part, "x.parquet")+"' (format parquet)"); err != nil {
		t.Fatal(err)
	}
	_ = setup.Close(t.Context())
	w, err := duckdb.Open(t.Context(), filepath.Join(".hem", "w.duckdb"), duckdb.WithSandbox(filepath.Join(".hem", "gcs", "hem-archive")))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(t.Context())
	for _, glob := range []string{".hem/gcs/hem-archive/events/*/*/*/*.parquet", filepath.Join(dir, part, "*.parquet")} {
		res, err := w.Query(t.Context(), "select type, count(*) from read_parquet('"+glob+"', hive_partitioning=true) group by 1")
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(res.Rows); got != "[[a 1]]" {
			t.Fatalf("%s reads %s, want [[a 1]]", glob, got)
		}
	}
	if _, err := w.Query(t.Context(), "select * from read_csv('.hem/gcs/hem-archive/../../w.duckdb.wal')"); err == nil {
		t.Fatal("a relative path out of the archive was read")
	}
}

func TestQueryReadsEveryReadOnlyForm(t *testing.T) {
	t.Parallel()
	w, _, _ := sandboxed(t)
	for _, q := range []string{
		"select * from t",
		"from t",
		"with x as (select * from t) select count(*) from x",
		"describe t",
		"show tables",
		"summarize t",
		"explain select * from t",
		"select table_name from information_schema.tables",
		"select * from duckdb_tables()",
	} {
		if _, err := w.Query(t.Context(), q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

func postSQL(t *testing.T, h http.Handler, contentType, query string) (int, map[string]json.RawMessage) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/sql", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: status %d, body %q is not JSON: %v", query, rec.Code, rec.Body.String(), err)
	}
	return rec.Code, out
}

func TestQueryHandler(t *testing.T) {
	t.Parallel()
	w, _, _ := sandboxed(t)
	h := w.QueryHandler()
	for _, tc := range []struct {
		name, contentType, query string
		status                   int
		body                     string // a part of the answer
	}{
		{"json", "application/json; charset=utf-8", "select count(*) as n from t", 200, `"rows":[[3]]`},
		// JSON has no NaN or infinity: they come as strings, also in
		// lists and structs, and both float widths.
		{"nan", "application/json", "select 'nan'::double, 'inf'::double, '-inf'::double, 'nan'::float, ['inf'::double], {'x': '-inf'::real}, 1.5::double", 200,
			`"rows":[["NaN","Infinity","-Infinity","NaN",["Infinity"],{"x":"-Infinity"},1.5]]`},
		// A web page's simple request: no preflight, so it must be refused here.
		{"text/plain", "text/plain", "select 1", 415, `"error"`},
		{"form", "application/x-www-form-urlencoded", "select 1", 415, `"error"`},
		{"drop", "application/json", "drop table t", 403, `read-only`},
		{"outside the sandbox", "application/json", "select * from read_csv('/etc/passwd')", 403, `Permission Error`},
		// An error after the first rows (DuckDB streams in chunks of 2048)
		// is an error answer, not a 200 with part of the rows.
		{"error while streaming", "application/json", "select case when i < 5000 then i else error('boom') end from range(10000) r(i)", 400, `boom`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, out := postSQL(t, h, tc.contentType, tc.query)
			b, _ := json.Marshal(out)
			if status != tc.status || !strings.Contains(string(b), tc.body) {
				t.Fatalf("%d %s, want %d with %s", status, b, tc.status, tc.body)
			}
		})
	}
}
