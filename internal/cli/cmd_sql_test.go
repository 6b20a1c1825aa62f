package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/sink/duckdb"
)

func hemSQL(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cli.Run(t.Context(), cli.IO{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}, append([]string{"sql"}, args...))
	return out.String(), err
}

// TestSQLAsksHemDevWithTheKey: hem sql finds the running hem dev in
// dev.json and sends the dev key (from dev.json, else <dir>/dev-key).
func TestSQLAsksHemDevWithTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := devstack.Start(t.Context(), devstack.Config{Dir: dir, Sinks: []string{"duckdb"},
		PubSubAddr: "127.0.0.1:0", GCSAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", CollectorAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.WithoutCancel(t.Context())) })
	for _, info := range []map[string]any{
		{"http": st.HTTPAddr, "api_key": st.APIKey},
		{"http": st.HTTPAddr},
	} {
		b, _ := json.Marshal(info)
		if err := os.WriteFile(filepath.Join(dir, "dev.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := hemSQL(t, "--dir", dir, "select 'nan'::double as x, 42 as y")
		if err != nil || !strings.Contains(out, "NaN") || !strings.Contains(out, "42") {
			t.Fatalf("dev.json %v: %q %v", info, out, err)
		}
		if _, err := hemSQL(t, "--dir", dir, "select * from read_csv('/etc/passwd')"); err == nil || !strings.Contains(err.Error(), "Permission") {
			t.Fatalf("read /etc/passwd through hem dev: %v, want a permission error", err)
		}
	}
}

// TestSQLOpensTheFileInTheSameSandbox: without hem dev, hem sql opens the
// warehouse itself with the same sandbox: the README's archive query works
// (relative to the working directory, as in the tour), other files do not.
func TestSQLOpensTheFileInTheSameSandbox(t *testing.T) {
	t.Chdir(t.TempDir())
	part := filepath.Join(".hem", "gcs", "hem-archive", "events", "type=shop.orders.v1.OrderPlaced", "dt=2026-12-06", "hour=10")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := duckdb.Open(t.Context(), filepath.Join(".hem", "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"create table t (x double)",
		"insert into t values ('nan'), ('-inf'), (1)",
		"copy (select 'e1' as _event_id union all select 'e2') to '" + filepath.Join(part, "x.parquet") + "' (format parquet)",
	} {
		if _, err := w.DB().ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	out, err := hemSQL(t, "select type, count(*) from read_parquet('.hem/gcs/hem-archive/events/*/*/*/*.parquet', hive_partitioning=true) group by 1")
	if err != nil || !strings.Contains(out, "shop.orders.v1.OrderPlaced  2") {
		t.Fatalf("the archive: %q %v", out, err)
	}
	out, err = hemSQL(t, "--format", "json", "select x from t order by x")
	if err != nil || strings.Join(strings.Fields(out), "") != `[{"x":"-Infinity"},{"x":1},{"x":"NaN"}]` {
		t.Fatalf("NaN in json: %q %v", out, err)
	}
	for _, q := range []string{
		"select * from read_csv('/etc/passwd')",
		"copy t to 'out.csv'",
		"drop table t",
	} {
		if out, err := hemSQL(t, q); err == nil {
			t.Errorf("%s: %q, want refused", q, out)
		}
	}
	if _, err := os.Stat("out.csv"); err == nil {
		t.Error("out.csv was written")
	}
}
