package cli_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/internal/cli"
)

// freeAddr is a loopback address the OS just handed out.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func runStdin(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr syncBuffer
	io := cli.IO{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	err := cli.Run(t.Context(), io, args)
	code := 0
	if err != nil {
		var ok bool
		if code, ok = cli.ExitCode(err); !ok {
			code = -1
			stderr.Write([]byte("error: " + err.Error()))
		}
	}
	return stdout.String(), stderr.String(), code
}

// TestCollectorServeAndEmit runs "hem collector serve" with gRPC and HTTP on
// one port against pstest and a registry holding the sample contracts, and
// sends events with "hem emit".
func TestCollectorServeAndEmit(t *testing.T) {
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	for _, topic := range []string{envelope.EventsTopic, envelope.FailedTopic} {
		if _, err := ps.GServer.CreateTopic(t.Context(), &pubsubpb.Topic{Name: "projects/p/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PUBSUB_EMULATOR_HOST", ps.Addr)

	env := startRegistry(t)
	if out, errOut, code := run(t, env, "schema", "push", "../../proto"); code != 0 {
		t.Fatalf("push: %s %s", out, errOut)
	}
	keys := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keys, []byte(`{"keys": [{"name": "cli-test", "sha256": "`+auth.HashKey("k1")+`", "types": ["shop.*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	serveEnv := map[string]string{
		"HEM_LISTEN": addr, "HEM_HTTP_LISTEN": addr, "HEM_REGISTRY": env["HEM_REGISTRY"], "HEM_PROJECT": "p",
		"HEM_KEYS_FILE": keys, "HEM_PII_SALT": "0123456789abcdef0123", "HEM_METRICS_LISTEN": metricsAddr,
		"HEM_KEYS_RELOAD": "100ms",
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var serveErr syncBuffer
	go func() {
		io := cli.IO{Stdin: strings.NewReader(""), Stdout: &serveErr, Stderr: &serveErr, Getenv: func(k string) string { return serveEnv[k] }}
		if err := cli.Run(ctx, io, []string{"collector", "serve"}); err != nil {
			serveErr.Write([]byte("error: " + err.Error()))
			done <- 1
			return
		}
		done <- 0
	}()
	// Wait for /readyz on the shared port.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not ready: %v\n%s", err, serveErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	emitEnv := map[string]string{"HEM_REGISTRY": env["HEM_REGISTRY"], "HEM_DIR": env["HEM_DIR"], "HEM_COLLECTOR": addr, "HEM_API_KEY": "k1"}
	order := `{"orderId": "0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b", "memberId": "m-1", "storeId": "ams-01", "channel": "CHANNEL_WEB",
		"items": [{"sku": "OAT-1L", "quantity": QTY, "unitPrice": {"currencyCode": "EUR", "amountMicros": "1990000"}}],
		"total": {"currencyCode": "EUR", "amountMicros": "1990000"}, "placedAt": "2026-11-22T10:00:00Z", "pickupStoreId": "ams-01"}`
	good := strings.ReplaceAll(strings.Replace(order, "QTY", "1", 1), "\n", "")
	bad := strings.ReplaceAll(strings.Replace(order, "QTY", "0", 1), "\n", "")

	out, errOut, code := run(t, emitEnv, "emit", "--type", "shop.orders.v1.OrderPlaced", "--json", good, "--event-id", "cli-1", "--attr", "k=v")
	if code != 0 || !strings.HasPrefix(out, "ACCEPTED  cli-1  shop.orders.v1.OrderPlaced") {
		t.Fatalf("emit: %d %q %s", code, out, errOut)
	}

	stdin := strings.Join([]string{
		`{"type": "shop.orders.v1.OrderPlaced", "event_id": "cli-2", "payload": ` + good + `}`,
		`{"type": "shop.orders.v1.OrderPlaced", "event_id": "cli-3", "event_time": "2026-11-22T09:00:00Z", "payload": ` + bad + `}`,
		`{"type": "shop.orders.v1.OrderPlaced", "payload": {"storId": "x"}}`,
		`{"type": "shop.nope.v1.Nope", "payload": {}}`,
	}, "\n")
	out, errOut, code = runStdin(t, emitEnv, stdin, "emit", "-")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 4 {
		t.Fatalf("emit -: %d %q %s", code, out, errOut)
	}
	for i, want := range []string{
		"ACCEPTED  cli-2  shop.orders.v1.OrderPlaced",
		"REJECTED  cli-3  shop.orders.v1.OrderPlaced  items[0].quantity: int32.gt_lte: ",
		`storId`,
		"shop.nope.v1.Nope is not a registered event type",
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %q", i+1, lines[i], want)
		}
	}
	var published []string
	for _, m := range ps.Messages() {
		if strings.HasSuffix(m.Topic, "/"+envelope.EventsTopic) {
			published = append(published, m.Attributes[envelope.AttrEventID]+" "+m.Attributes["k"])
		}
	}
	if strings.Join(published, ",") != "cli-1 v,cli-2 " {
		t.Errorf("published %q", published)
	}

	// Metrics are served on their own address only, not on the public port.
	for _, tc := range []struct {
		addr   string
		status int
	}{{addr, http.StatusNotFound}, {metricsAddr, http.StatusOK}} {
		resp, err := http.Get("http://" + tc.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s/metrics: %d, want %d", tc.addr, resp.StatusCode, tc.status)
		}
		if tc.status == http.StatusOK && !strings.Contains(string(b), `hem_collector_events_total{`) {
			t.Errorf("GET %s/metrics lacks the events counter:\n%.2000s", tc.addr, b)
		}
	}

	// A key removed from the keys file is refused within the reload period,
	// without a restart.
	if err := os.WriteFile(keys, []byte(`{"keys": [{"name": "other", "sha256": "`+auth.HashKey("k2")+`", "types": ["shop.*"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // five reload periods
	out, errOut, code = run(t, emitEnv, "emit", "--type", "shop.orders.v1.OrderPlaced", "--json", good, "--event-id", "cli-4")
	if code == 0 || !strings.Contains(out+errOut, "unknown API key") {
		t.Errorf("emit with a removed key: %d %q %s", code, out, errOut)
	}

	cancel()
	select {
	case c := <-done:
		if c != 0 {
			t.Errorf("serve ended with %d: %s", c, serveErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
