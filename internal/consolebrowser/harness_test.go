package consolebrowser_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hemlabs/hem/internal/devstack"
)

var screenshots = flag.String("screenshots", "", "write PNG screenshots of the console's main pages into this folder (the README's: ../../docs/console)")

// browserNames are the binaries chromedp looks for on Linux, in its order.
var browserNames = []string{"headless_shell", "headless-shell", "chromium", "chromium-browser",
	"google-chrome", "google-chrome-stable", "/snap/bin/chromium", "chrome",
	"/Applications/Chromium.app/Contents/MacOS/Chromium",
	"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"}

// chromePath is the browser the tests drive: HEM_CHROME, else the first of
// browserNames found.
func chromePath() (string, error) {
	if p := os.Getenv("HEM_CHROME"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("HEM_CHROME=%s: %w", p, err)
		}
		return p, nil
	}
	for _, n := range browserNames {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium or chrome on PATH: run make setup (scripts/setup.sh installs Debian's chromium) or set HEM_CHROME")
}

// needBrowser skips under -short and fails clearly without a browser: the
// gate runs without -short, so a missing browser never passes silently.
func needBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests start hem dev and chromium; they run without -short")
	}
	p, err := chromePath()
	if err != nil {
		t.Fatalf("the console's browser tests need chromium: %v", err)
	}
	return p
}

// startStack starts hem dev with the sample contracts on free loopback ports.
func startStack(t *testing.T) *devstack.Stack {
	t.Helper()
	cfg := devstack.Config{Dir: t.TempDir(), ProtoDir: "../../proto", DrainTimeout: 20 * time.Second,
		PubSubAddr: "127.0.0.1:0", GCSAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0",
		CollectorAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}
	st, err := devstack.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.PushErr != nil {
		t.Fatalf("hem dev registered the samples with %v", st.PushErr)
	}
	// t.Context ends before cleanups run; Close needs a live one to wait
	// for the services (see devstack's tests).
	t.Cleanup(func() { _ = st.Close(context.WithoutCancel(t.Context())) })
	return st
}

// browser is one headless chromium tab on a running hem dev's console. It
// keeps the HTML of every page it showed, for the PII check.
type browser struct {
	t    *testing.T
	st   *devstack.Stack
	base string          // http://HOST:PORT
	tab  context.Context //nolint:containedctx // chromedp names its browser tab by a context, for the test's lifetime
	seen *pageLog
}

// pageLog is the HTML of every page the tab showed.
type pageLog struct {
	mu    sync.Mutex
	pages map[string]string // URL (what) → HTML
}

// on is b reporting to t (a subtest).
func (b *browser) on(t *testing.T) *browser {
	c := *b
	c.t = t
	return &c
}

func openBrowser(t *testing.T, st *devstack.Stack, exe string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.WindowSize(1280, 860), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	start := time.Now()
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return &browser{t: t, st: st, base: "http://" + st.HTTPAddr, tab: tab, seen: &pageLog{pages: map[string]string{}}}
}

// do runs actions on the tab, bounded so a missing element fails the test
// instead of hanging it.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (page: %s)", what, err, b.location())
	}
}

// navigate runs actions that load a page (a link, a form) and returns the
// page's HTTP status and what it shows.
func (b *browser) navigate(what string, actions ...chromedp.Action[chromedp.Void]) (int, string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v (page: %s)", what, err, b.location())
	}
	status := 0
	if resp != nil {
		status = int(resp.Status)
	}
	return status, b.shown(what)
}

// follow clicks the first element matching css (a link, a button) and
// returns the page it leads to; with no such element it fails naming the
// links and buttons the page has, instead of waiting for one.
func (b *browser) follow(css string) (int, string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	there, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`document.querySelector(`+jsString(css)+`) ? [] :
		Array.from(document.querySelectorAll("a[href], button")).map(e => e.tagName == "A" ? e.getAttribute("href") : "button: " + e.innerText)`))
	if err != nil {
		b.t.Fatalf("looking for %s: %v", css, err)
	}
	if len(there) > 0 {
		b.t.Fatalf("%s has nothing matching %s; its links and buttons: %q", b.location(), css, there)
	}
	return b.navigate("click "+css, chromedp.Click(chromedp.CSS(css)))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// open loads path (under the console's /ui/) and returns its status and text.
func (b *browser) open(path string) (int, string) {
	b.t.Helper()
	return b.navigate("open "+path, chromedp.Navigate(b.base+path))
}

// shown returns the text of the page now shown and records its HTML.
func (b *browser) shown(what string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	page, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ Loc, Text, HTML string }](
		`({Loc: location.href, Text: document.body.innerText, HTML: document.documentElement.outerHTML})`))
	if err != nil {
		b.t.Fatalf("read %s: %v", what, err)
	}
	b.seen.mu.Lock()
	b.seen.pages[page.Loc+" ("+what+")"] = page.HTML
	b.seen.mu.Unlock()
	return page.Text
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.tab, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// login signs in with the dev key on the login page, as a person does.
func (b *browser) login() {
	b.t.Helper()
	status, text := b.open("/ui/login")
	if status != http.StatusOK {
		b.t.Fatalf("/ui/login answered %d: %s", status, text)
	}
	status, text = b.navigate("sign in", chromedp.SendKeys(chromedp.CSS(`input[name="key"]`), b.st.APIKey),
		chromedp.Submit(chromedp.CSS(`input[name="key"]`)))
	if status != http.StatusOK || strings.Contains(text, "not the API key") {
		b.t.Fatalf("signing in with the dev key: %d %s", status, text)
	}
}

// screenshot writes the page shown as DIR/name.png when -screenshots is set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if *screenshots == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	small, err := shrinkPNG(png)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(*screenshots, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*screenshots, name+".png"), small, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// sql runs q on hem dev's warehouse (/v1/sql, as hem sql does).
func sql(t *testing.T, st *devstack.Stack, q string) ([][]any, error) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": q})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+st.HTTPAddr+"/v1/sql", bytes.NewReader(body))
	req.Header.Set("X-Api-Key", st.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Rows  [][]any `json:"rows"`
		Error string  `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Error != "" || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %s", q, resp.StatusCode, out.Error)
	}
	return out.Rows, nil
}

// count returns the first column of q's first row as a number, and -1 when
// q fails (a table the sinks have not created yet).
func count(t *testing.T, st *devstack.Stack, q string) int {
	t.Helper()
	rows, err := sql(t, st, q)
	if err != nil || len(rows) == 0 || len(rows[0]) == 0 {
		return -1
	}
	n, _ := rows[0][0].(float64)
	return int(n)
}

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// emit sends one event as the HTTP API's JSON (what hem emit sends) and
// returns the collector's status for it: ACCEPTED or REJECTED.
func emit(t *testing.T, st *devstack.Stack, subject, id string, payload []byte) string {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal(payload, &fields); err != nil {
		t.Fatal(err)
	}
	fields["@type"] = "type.googleapis.com/" + subject
	body, _ := json.Marshal(map[string]any{"events": []any{map[string]any{"event_id": id, "payload": fields}}})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+st.HTTPAddr+"/v1/events", bytes.NewReader(body))
	req.Header.Set("X-Api-Key", st.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || len(out.Results) != 1 {
		t.Fatalf("emit %s %s: %d %v %+v", subject, id, resp.StatusCode, err, out)
	}
	return strings.TrimPrefix(out.Results[0].Status, "EVENT_STATUS_")
}
