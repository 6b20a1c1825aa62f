package cli_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/internal/cli"
)

func TestConsoleServeRefusesABadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "iap without audience", args: nil, want: "--iap-audience"},
		{name: "key without key", args: []string{"--auth", "key"}, want: "--api-key"},
		{name: "unknown auth", args: []string{"--auth", "open"}, want: `auth "open"`},
		{name: "dataset alone", args: []string{"--auth", "key", "--api-key", "k", "--bigquery-dataset", "events"}, want: "--bigquery-project"},
		{name: "short secret", args: []string{"--auth", "key", "--api-key", "k", "--secret", "short"}, want: "--secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := run(t, nil, append([]string{"console", "serve"}, tt.args...)...)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want a failure naming %s", code, errOut, tt.want)
			}
		})
	}
}

var consoleAddr = regexp.MustCompile(`"msg":"console serving","addr":"([^"]+)"`)

// hem console serve with an API key over a registry: the contracts page
// answers to the key, /healthz to anyone, and HEM_* settings work as flags.
func TestConsoleServeWithAKey(t *testing.T) {
	t.Parallel()
	env := startRegistry(t)
	if out, errOut, code := run(t, env, "schema", "push", contracts(t, t.TempDir(), "")); code != 0 {
		t.Fatalf("push: %s%s", out, errOut)
	}
	env["HEM_AUTH"], env["HEM_API_KEY"] = "key", "hem_console_test_key"
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, cli.IO{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }},
			[]string{"console", "serve", "--listen", "127.0.0.1:0"})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console serve: %v", err)
		}
	})
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := consoleAddr.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no 'console serving' line:\n%s", stderr.String())
	}
	get := func(path, key string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/ui/contracts", "hem_console_test_key"); code != http.StatusOK || !strings.Contains(body, "acme.orders.v1.OrderPlaced") {
		t.Errorf("contracts with the key: %d\n%.300s", code, body)
	}
	if code, _ := get("/ui/contracts", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("contracts with a wrong key: %d, want 401", code)
	}
	if code, _ := get("/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
}

func TestConsoleServeIsListed(t *testing.T) {
	t.Parallel()
	out, _, _ := run(t, nil, "--help")
	if !strings.Contains(out, "console serve") {
		t.Errorf("hem --help does not list console serve:\n%s", out)
	}
}
