package devstack_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/internal/loadgen"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// hem dev with the BigQuery sink on a BigQuery-API-compatible server: every
// accepted event is a row in BigQuery and in DuckDB; a pushed version with a
// new field widens both tables without a restart, and rows of both versions
// land.
func TestDevStackBigQuery(t *testing.T) {
	t.Parallel()
	bq, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bq.Close)
	dir, protoDir := t.TempDir(), filepath.Join(t.TempDir(), "proto")
	if err := os.CopyFS(protoDir, os.DirFS("../../proto")); err != nil {
		t.Fatal(err)
	}
	st := startWith(t, devstack.Config{
		Dir: dir, ProtoDir: protoDir,
		Sinks:           []string{"duckdb", "bigquery", "failed"},
		BigQueryProject: "hem-dev", BigQueryDataset: "hem_events",
		BigQueryEndpoint: bq.RESTEndpoint(), BigQueryWriteEndpoint: bq.WriteEndpoint(),
	})
	c, err := client.New(t.Context(), st.CollectorAddr, client.WithAPIKey(st.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	rep, err := loadgen.Run(t.Context(), c, loadgen.Config{Rate: 500, Duration: time.Second, Seed: 3,
		Subjects: []string{"shop.orders.v1.OrderPlaced", "shop.telemetry.v1.WarehouseSensorReading"}})
	if err != nil || rep.Accepted == 0 {
		t.Fatalf("loadgen: %v %v", rep, err)
	}
	waitRows(t, bq, int(rep.Accepted), "shop_orders_v1_order_placed", "shop_telemetry_v1_warehouse_sensor_reading")

	// Version 2 of OrderPlaced adds a field; push it as "hem schema push" does.
	file := filepath.Join(protoDir, "shop", "orders", "v1", "events.proto")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	v2src := strings.Replace(string(src), "  string gift_message = 14", "  // A note for the driver.\n  optional string note = 15;\n  string gift_message = 14", 1)
	if err := os.WriteFile(file, []byte(v2src), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := cli.Run(t.Context(), cli.IO{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }},
		[]string{"schema", "push", "--registry", st.RegistryAddr, "--api-key", st.APIKey, protoDir}); err != nil {
		t.Fatalf("schema push: %v\n%s%s", err, out.String(), errOut.String())
	}
	compiled, err := contract.CompileDir(t.Context(), protoDir)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := compiled.Schema("shop.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	gen, err := sample.NewGenerator(5, []string{v2.Subject}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var results []*client.Result
	for range 20 {
		m := v2.NewMessage()
		b, _ := proto.Marshal(gen.Next().Message)
		if err := proto.Unmarshal(b, m.Interface()); err != nil {
			t.Fatal(err)
		}
		m.Set(v2.Descriptor().Fields().ByName("note"), protoreflect.ValueOfString("leave at the door"))
		results = append(results, c.Emit(t.Context(), m.Interface()))
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if _, err := r.Get(t.Context()); err != nil {
			t.Fatalf("version 2 event: %v", err)
		}
	}
	got := waitRows(t, bq, int(rep.Accepted)+20, "shop_orders_v1_order_placed", "shop_telemetry_v1_warehouse_sensor_reading")
	notes := 0
	for _, r := range got["shop_orders_v1_order_placed"] {
		if r["note"] == "leave at the door" {
			notes++
		}
	}
	if notes != 20 {
		t.Fatalf("%d BigQuery rows carry the new column's value, want 20", notes)
	}
	if n := sql(t, st, "select count(*) from shop_orders_v1_order_placed where note = 'leave at the door'")[0][0]; n != float64(20) {
		t.Fatalf("DuckDB: %v rows with the note, want 20", n)
	}
}

// waitRows waits until the tables hold want rows in all, and returns them.
func waitRows(t *testing.T, bq *bigquerytest.Server, want int, tables ...string) map[string][]map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, n := map[string][]map[string]any{}, 0
		for _, tb := range tables {
			rows, _ := bq.Rows("hem-dev", "hem_events", tb)
			all[tb], n = rows, n+len(rows)
		}
		if n == want {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("BigQuery holds %d rows, want %d", n, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Ctrl-C on hem dev while BigQuery is unreachable: the stack does not wait
// out its drain for a sink that cannot write, and what BigQuery did not get
// stays queued for the next start.
func TestDevStackStopsDuringBigQueryOutage(t *testing.T) {
	t.Parallel()
	bq, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bq.Close)
	st := startWith(t, devstack.Config{
		Dir: t.TempDir(), ProtoDir: "../../proto", DrainTimeout: 60 * time.Second,
		Sinks:           []string{"duckdb", "bigquery"},
		BigQueryProject: "hem-dev", BigQueryDataset: "hem_events",
		BigQueryEndpoint: bq.RESTEndpoint(), BigQueryWriteEndpoint: bq.WriteEndpoint(),
	})
	bq.SetReachable(false)
	c, err := client.New(t.Context(), st.CollectorAddr, client.WithAPIKey(st.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	rep, err := loadgen.Run(t.Context(), c, loadgen.Config{Rate: 200, Duration: time.Second, Seed: 4,
		Subjects: []string{"shop.orders.v1.OrderPlaced"}})
	if err != nil || rep.Accepted == 0 {
		t.Fatalf("loadgen: %v %v", rep, err)
	}
	// Long enough for the sink to notice the outage and say so.
	time.Sleep(5 * time.Second)
	start := time.Now()
	if err := st.Close(t.Context()); err != nil {
		t.Logf("close: %v", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("hem dev took %v to stop during a BigQuery outage (drain timeout 60s)", took)
	}
}
