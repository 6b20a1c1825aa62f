package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

// serveRegistry runs "hem registry serve" until stop or the end of the
// test and returns its address and log.
func serveRegistry(t *testing.T, store string, args ...string) (addr string, log *syncBuffer, stop func()) {
	t.Helper()
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	io := cli.IO{Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }}
	go func() {
		done <- cli.Run(ctx, io, append([]string{"registry", "serve", "--listen", "127.0.0.1:0", "--store", store}, args...))
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("registry serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("registry serve did not stop")
		}
	})
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(stderr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "registry serving" {
				return rec.Addr, &stderr, stop
			}
		}
		select {
		case err := <-done:
			t.Fatalf("registry serve ended: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("registry serve did not start:\n%s", stderr.String())
	return "", nil, nil
}

func TestRegistryServeOnAFolderKeepsSchemasAcrossRestarts(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	dir := contracts(t, t.TempDir(), "")
	addr, log, stop := serveRegistry(t, store)
	if !strings.Contains(log.String(), "accepting schema writes from local callers without a credential") {
		t.Errorf("no log line about open local writes:\n%s", log.String())
	}
	env := map[string]string{"HEM_REGISTRY": addr, "HEM_DIR": t.TempDir()}
	out, errOut, code := run(t, env, "schema", "push", dir)
	if code != 0 {
		t.Fatalf("push: %d %s %s", code, out, errOut)
	}
	first := pushed(t, out)

	// Restarted on the same folder, the registry has every version.
	stop()
	env["HEM_REGISTRY"], _, _ = serveRegistry(t, store)
	out, _, code = run(t, env, "schema", "push", dir)
	if code != 0 {
		t.Fatal(out)
	}
	for subject, line := range pushed(t, out) {
		if want := strings.Replace(first[subject], "NEW", "UNCHANGED", 1); line != want {
			t.Errorf("%s after restart: %q, want %q", subject, line, want)
		}
	}
}

func TestRegistryServeWithKeys(t *testing.T) {
	t.Parallel()
	keys := filepath.Join(t.TempDir(), "keys.json")
	b, _ := json.Marshal(map[string]any{"keys": []map[string]any{
		{"name": "ci", "sha256": auth.HashKey("hem_ci"), "schema_write": true},
		{"name": "app", "sha256": auth.HashKey("hem_app"), "types": []string{"*"}},
	}})
	if err := os.WriteFile(keys, b, 0o600); err != nil {
		t.Fatal(err)
	}
	addr, log, _ := serveRegistry(t, t.TempDir(), "--keys-file", keys)
	if strings.Contains(log.String(), "without a credential") {
		t.Errorf("open writes despite keys:\n%s", log.String())
	}
	dir := contracts(t, t.TempDir(), "")
	env := map[string]string{"HEM_REGISTRY": addr, "HEM_DIR": t.TempDir()}
	tests := []struct {
		key      string
		wantCode int
		wantErr  string
	}{
		{"", -1, "Unauthenticated"},
		{"hem_app", -1, "PermissionDenied"},
		{"hem_ci", 0, ""},
	}
	for _, tt := range tests {
		env["HEM_API_KEY"] = tt.key
		_, errOut, code := run(t, env, "schema", "push", dir)
		if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("key %q: exit %d %q, want %d %q", tt.key, code, errOut, tt.wantCode, tt.wantErr)
		}
	}
	// Reads need no key.
	delete(env, "HEM_API_KEY")
	if out, _, code := run(t, env, "schema", "list"); code != 0 || !strings.Contains(out, "acme.orders.v1.OrderPlaced") {
		t.Errorf("list without a key: %d %q", code, out)
	}
}

func TestRegistryServeNeedsAStore(t *testing.T) {
	t.Parallel()
	_, errOut, code := run(t, nil, "registry", "serve", "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "--store") {
		t.Fatalf("exit %d %q", code, errOut)
	}
}

// With --bigquery-dataset every admitted version creates or widens its
// BigQuery table (and the dedup view) before it is usable.
func TestRegistryServeMigratesBigQuery(t *testing.T) {
	t.Parallel()
	bq, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bq.Close)
	addr, _, _ := serveRegistry(t, t.TempDir(), "--bigquery-project", "p", "--bigquery-dataset", "hem_events",
		"--bigquery-endpoint", bq.RESTEndpoint(), "--bigquery-write-endpoint", bq.WriteEndpoint())
	env := map[string]string{"HEM_REGISTRY": addr, "HEM_DIR": t.TempDir()}
	dir := contracts(t, t.TempDir(), "")
	if out, errOut, code := run(t, env, "schema", "push", dir); code != 0 {
		t.Fatalf("push: %s %s", out, errOut)
	}
	client, err := bigquery.NewClient(t.Context(), "p", bq.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	columns := func() []string {
		meta, err := client.Dataset("hem_events").Table("acme_orders_v1_order_placed").Metadata(t.Context())
		if err != nil {
			t.Fatalf("the table of the pushed version: %v", err)
		}
		var names []string
		for _, f := range meta.Schema {
			names = append(names, f.Name)
		}
		return names
	}
	if got := columns(); !slices.Contains(got, "placed_at") || slices.Contains(got, "coupon") {
		t.Fatalf("columns after version 1: %v", got)
	}
	if _, err := client.Dataset("hem_events").Table("acme_orders_v1_order_placed_dedup").Metadata(t.Context()); err != nil {
		t.Fatalf("dedup view: %v", err)
	}
	contracts(t, dir, "  // Coupon code.\n  optional string coupon = 4;\n")
	if out, errOut, code := run(t, env, "schema", "push", dir); code != 0 {
		t.Fatalf("push version 2: %s %s", out, errOut)
	}
	if got := columns(); !slices.Contains(got, "coupon") {
		t.Fatalf("columns after version 2: %v", got)
	}
}
