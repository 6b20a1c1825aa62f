package devstack_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/hemlabs/hem/registry"
)

// hem dev serves the console at /ui/ on its HTTP port: the dev key signs
// in, a browser keeps a session, and only loopback host names get it.
func TestDevConsole(t *testing.T) {
	t.Parallel()
	st := start(t, t.TempDir())
	if want := "http://" + st.HTTPAddr + "/ui/"; st.ConsoleURL() != want {
		t.Errorf("ConsoleURL %s, want %s", st.ConsoleURL(), want)
	}

	t.Run("the dev key in a header", func(t *testing.T) {
		t.Parallel()
		code, body := do(t, st, http.MethodGet, "/ui/contracts", nil, set("X-Api-Key", st.APIKey))
		if code != http.StatusOK || !strings.Contains(string(body), "shop.orders.v1.OrderPlaced") {
			t.Fatalf("contracts page: %d\n%.400s", code, body)
		}
	})
	// hem dev gives the console its archive, metrics, warehouse and
	// collector: none of those pages says it is not configured.
	for _, page := range []string{"/ui/archive", "/ui/live", "/ui/failed"} {
		t.Run(page, func(t *testing.T) {
			t.Parallel()
			code, body := do(t, st, http.MethodGet, page, nil, set("X-Api-Key", st.APIKey))
			if code != http.StatusOK || strings.Contains(string(body), "Not configured") || strings.Contains(string(body), "not configured") {
				t.Fatalf("%s: %d\n%.600s", page, code, body)
			}
		})
	}
	t.Run("a wrong key", func(t *testing.T) {
		t.Parallel()
		if code, _ := do(t, st, http.MethodGet, "/ui/contracts", nil, set("X-Api-Key", "hem_wrong")); code != http.StatusUnauthorized {
			t.Fatalf("wrong key: %d, want 401", code)
		}
	})
	t.Run("another host name", func(t *testing.T) {
		t.Parallel()
		_, port, _ := strings.Cut(st.HTTPAddr, ":")
		if code, _ := do(t, st, http.MethodGet, "/ui/contracts", nil, set("X-Api-Key", st.APIKey), host("rebound.example:"+port)); code != http.StatusMisdirectedRequest {
			t.Fatalf("DNS-rebound host: %d, want 421", code)
		}
	})
	t.Run("a browser signs in once", func(t *testing.T) {
		t.Parallel()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Get(st.ConsoleURL())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.HasSuffix(resp.Request.URL.Path, "/ui/login") {
			t.Fatalf("without a session the console went to %s, want the login page", resp.Request.URL)
		}
		resp, err = c.PostForm("http://"+st.HTTPAddr+"/ui/login", url.Values{"key": {st.APIKey}, "next": {"/ui/contracts"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/ui/contracts" {
			t.Fatalf("after signing in: %d at %s", resp.StatusCode, resp.Request.URL)
		}
		resp, err = c.Get("http://" + st.HTTPAddr + "/ui/contracts")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("with the session: %d", resp.StatusCode)
		}
	})
	// The contracts hem dev pushed at start say who and from which commit:
	// the dev key's principal, and the checkout's HEAD.
	t.Run("provenance of the dev push", func(t *testing.T) {
		t.Parallel()
		head, err := exec.Command("git", "-C", "../../proto", "rev-parse", "HEAD").Output()
		if err != nil {
			t.Skip("not in a git checkout")
		}
		c, err := registry.Dial(context.Background(), st.RegistryAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		vs, err := c.Versions(t.Context(), "shop.orders.v1.OrderPlaced")
		if err != nil {
			t.Fatal(err)
		}
		if got := vs[0]; got.GetPushedBy() != "dev" || got.GetCommit() != strings.TrimSpace(string(head)) {
			t.Errorf("v1 pushed by %q from %q, want dev from %s", got.GetPushedBy(), got.GetCommit(), head)
		}
	})
}
