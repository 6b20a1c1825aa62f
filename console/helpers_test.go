package console_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/localgcs"
)

const testKey = "hem_console_test_key"

// startRegistry runs a real registry (local GCS on a temp folder, the gRPC
// service on a loopback port) and returns a client of it.
func startRegistry(t testing.TB) *registry.Client {
	t.Helper()
	ctx := context.Background()
	gcs, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	sc, err := gcs.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	if err := localgcs.EnsureBucket(ctx, sc, "hem-console-test"); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(ctx, sc.Bucket("hem-console-test"), "registry")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := registry.NewService(reg, registry.WithLocalWrites())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- registry.Serve(sctx, lis, svc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return registry.NewClient(conn)
}

// pushSources compiles .proto sources (path → text) and registers every
// event in them; it fails the test unless each is NEW or UNCHANGED.
func pushSources(t testing.TB, c *registry.Client, sources map[string]string) {
	t.Helper()
	src, err := contract.CompileSources(context.Background(), sources)
	if err != nil {
		t.Fatal(err)
	}
	push(t, c, src)
}

func push(t testing.TB, c *registry.Client, src *contract.Source) {
	t.Helper()
	schemas, err := src.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	req := &registryv1.RegisterRequest{}
	for _, s := range schemas {
		if registry.Reserved(s.Subject) {
			continue
		}
		req.FileDescriptorSet = append(req.FileDescriptorSet, s.DescriptorSet()...)
		req.Subjects = append(req.Subjects, s.Subject)
	}
	resp, err := c.Register(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range resp.GetResults() {
		if res.GetOutcome() == registryv1.RegisterOutcome_REGISTER_OUTCOME_REJECTED {
			t.Fatalf("push %s: rejected: %v", res.GetSubject(), res.GetViolations())
		}
	}
}

// pushSamples registers hem's sample contracts (proto/shop).
func pushSamples(t testing.TB, c *registry.Client) *contract.Source {
	t.Helper()
	src, err := contract.CompileDir(context.Background(), "../proto")
	if err != nil {
		t.Fatal(err)
	}
	push(t, c, src)
	return src
}

// newConsole serves a console over reg with KeyAuth(testKey).
func newConsole(t testing.TB, reg console.Registry) *httptest.Server {
	t.Helper()
	s, err := console.New(console.Deps{Registry: reg, Auth: console.KeyAuth(testKey)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// page is one answer of the console.
type page struct {
	Status int
	Body   string
}

// text is the page's visible text: tags dropped, entities of the common
// kind decoded, spaces collapsed.
func (p page) text() string {
	s := regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`).ReplaceAllString(p.Body, " ")
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", `"`, "&#39;", "'", "&quot;", `"`).Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// get fetches path with the API key header.
func get(t testing.TB, ts *httptest.Server, path string) page {
	t.Helper()
	return getPage(t, ts.URL, path)
}

func getPage(t testing.TB, base, path string) page {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", testKey)
	return do(t, http.DefaultClient, req)
}

// postPage posts a form with the API key header (no CSRF token needed).
func postPage(t testing.TB, base, path string, form url.Values) page {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Api-Key", testKey)
	return do(t, http.DefaultClient, req)
}

func do(t testing.TB, c *http.Client, req *http.Request) page {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{Status: resp.StatusCode, Body: string(b)}
}

// browser is a client with a cookie jar that does not follow redirects.
func browser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func mustContain(t testing.TB, p page, want ...string) {
	t.Helper()
	txt := p.text()
	for _, w := range want {
		if !strings.Contains(txt, w) {
			t.Errorf("page lacks %q; its text:\n%s", w, txt)
		}
	}
}
