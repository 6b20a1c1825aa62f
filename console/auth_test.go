package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hemlabs/hem/console"
)

func newKeyConsole(t *testing.T) (*httptest.Server, *console.KeyAuthenticator) {
	t.Helper()
	auth := console.KeyAuth(testKey)
	s, err := console.New(console.Deps{Registry: startRegistry(t), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, auth
}

func request(t *testing.T, method, url string, body string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

func fetch(t *testing.T, c *http.Client, req *http.Request) (*http.Response, page) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, page{Status: resp.StatusCode, Body: b.String()}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

func TestAuthWithoutCredentials(t *testing.T) {
	t.Parallel()
	ts, _ := newKeyConsole(t)
	cases := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantLoc    string
		wantText   string
	}{
		{"a browser is sent to the login page", request(t, "GET", ts.URL+"/ui/contracts?q=x", ""), 303, "/ui/login?next=%2Fui%2Fcontracts%3Fq%3Dx", ""},
		{"a wrong API key is refused", request(t, "GET", ts.URL+"/ui/contracts", "", "X-Api-Key", "nope"), 401, "", "Not signed in"},
		{"a wrong bearer token is refused", request(t, "GET", ts.URL+"/ui/contracts", "", "Authorization", "Bearer nope"), 401, "", "Not signed in"},
		{"a JSON client gets 401", request(t, "GET", ts.URL+"/ui/contracts", "", "Accept", "application/json"), 401, "", "Not signed in"},
		{"a POST without a session gets 401", request(t, "POST", ts.URL+"/ui/logout", ""), 401, "", "Not signed in"},
		{"the bearer token is the key", request(t, "GET", ts.URL+"/ui/contracts", "", "Authorization", "Bearer "+testKey), 200, "", "Contracts"},
		{"the login page is open", request(t, "GET", ts.URL+"/ui/login", ""), 200, "", "API key"},
		{"a tampered session is no session", request(t, "GET", ts.URL+"/ui/contracts", "", "Cookie", "hem_console=99999999999.AAAA"), 303, "/ui/login?next=%2Fui%2Fcontracts", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, p := fetch(t, browser(t), tc.req)
			if p.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", p.Status, tc.wantStatus, p.text())
			}
			if got := resp.Header.Get("Location"); got != tc.wantLoc {
				t.Errorf("Location %q, want %q", got, tc.wantLoc)
			}
			if tc.wantText != "" {
				mustContain(t, p, tc.wantText)
			}
		})
	}
}

func TestLoginSessionAndCSRF(t *testing.T) {
	t.Parallel()
	ts, auth := newKeyConsole(t)
	var now atomic.Int64
	now.Store(time.Now().Unix())
	console.SetKeyAuthClock(auth, func() time.Time { return time.Unix(now.Load(), 0) })
	b := browser(t)

	// A wrong key: the login page again, saying so.
	_, p := fetch(t, b, request(t, "POST", ts.URL+"/ui/login", url.Values{"key": {"wrong"}}.Encode()))
	if p.Status != http.StatusUnauthorized {
		t.Fatalf("wrong key: status %d", p.Status)
	}
	mustContain(t, p, "That is not the API key")

	// The key: a session cookie, and back to where the user was going.
	resp, p := fetch(t, b, request(t, "POST", ts.URL+"/ui/login", url.Values{"key": {testKey}, "next": {"/ui/contracts?q=shop"}}.Encode()))
	if p.Status != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/contracts?q=shop" {
		t.Fatalf("login: status %d, Location %q", p.Status, resp.Header.Get("Location"))
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"hem_console=", "HttpOnly", "SameSite=Strict", "Path=/ui/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	_, p = fetch(t, b, request(t, "GET", ts.URL+"/ui/contracts", ""))
	if p.Status != http.StatusOK {
		t.Fatalf("with the session: status %d: %s", p.Status, p.text())
	}
	mustContain(t, p, "api key", "Sign out")
	if p := get(t, ts, "/ui/contracts"); strings.Contains(p.text(), "Sign out") {
		t.Error("a request with the key in a header is offered to sign out")
	}
	token := csrfMeta.FindStringSubmatch(p.Body)
	if token == nil {
		t.Fatal("no CSRF token in the page")
	}

	// POSTs: without the token, with another's token, from another site.
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"no token", request(t, "POST", ts.URL+"/ui/logout", "")},
		{"a wrong token", request(t, "POST", ts.URL+"/ui/logout", url.Values{"csrf": {"AAAA"}}.Encode())},
		{"another site", request(t, "POST", ts.URL+"/ui/logout", url.Values{"csrf": {token[1]}}.Encode(), "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")},
	} {
		_, p := fetch(t, b, tc.req)
		if p.Status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, p.Status)
		}
	}
	// A login from another site is refused too (login CSRF).
	_, p = fetch(t, b, request(t, "POST", ts.URL+"/ui/login", url.Values{"key": {testKey}}.Encode(), "Origin", "https://evil.example"))
	if p.Status != http.StatusForbidden {
		t.Errorf("cross-site login: status %d, want 403", p.Status)
	}

	// The session ends after 12 hours.
	now.Add(int64(13 * time.Hour / time.Second))
	resp, _ = fetch(t, b, request(t, "GET", ts.URL+"/ui/contracts", ""))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("expired session: status %d, want 303 to the login page", resp.StatusCode)
	}
	now.Add(-int64(13 * time.Hour / time.Second))

	// Signing out with the token ends the session.
	resp, _ = fetch(t, b, request(t, "POST", ts.URL+"/ui/logout", url.Values{"csrf": {token[1]}}.Encode()))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: status %d", resp.StatusCode)
	}
	resp, _ = fetch(t, b, request(t, "GET", ts.URL+"/ui/contracts", ""))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out: status %d, want 303 to the login page", resp.StatusCode)
	}
}

func TestLoginRedirectStaysInTheConsole(t *testing.T) {
	t.Parallel()
	ts, _ := newKeyConsole(t)
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/ui/\\evil", "/other"} {
		resp, _ := fetch(t, browser(t), request(t, "POST", ts.URL+"/ui/login", url.Values{"key": {testKey}, "next": {next}}.Encode()))
		if loc := resp.Header.Get("Location"); loc != "/ui/" {
			t.Errorf("next=%q: Location %q, want /ui/", next, loc)
		}
	}
}

func TestStaticAndUnknownPages(t *testing.T) {
	t.Parallel()
	ts, _ := newKeyConsole(t)
	p := get(t, ts, "/ui/contracts")
	css := regexp.MustCompile(`href="(/ui/static/console\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(p.Body)
	if css == nil {
		t.Fatal("no stylesheet link")
	}
	resp, _ := fetch(t, http.DefaultClient, request(t, "GET", ts.URL+css[1], ""))
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %q %q", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"))
	}
	p = get(t, ts, "/ui/nowhere")
	if p.Status != http.StatusNotFound {
		t.Errorf("unknown page: status %d", p.Status)
	}
	mustContain(t, p, "404", "There is no page at /ui/nowhere", "Contracts", "Live", "Failed", "SQL")
	resp, _ = fetch(t, browser(t), request(t, "GET", ts.URL+"/ui/", "", "X-Api-Key", testKey))
	if resp.Header.Get("Location") != "/ui/contracts" {
		t.Errorf("/ui/ → %q, want /ui/contracts", resp.Header.Get("Location"))
	}
}
