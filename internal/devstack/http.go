package devstack

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/layers/rollup"
)

// httpHandler serves the dev HTTP port. The collector's endpoints
// (/v1/events with its own key check, /healthz) and /readyz are as in
// production. What only hem dev has is locked to the developer: /v1/sql
// and /metrics need the dev key and a loopback Host, so neither a web page
// the developer visits (a cross-site request carries no key; DNS rebinding
// carries its own host name) nor another machine reaches them; /v1/sql
// also wants a JSON body (a cross-site request with one is preflighted, and
// nothing here answers a preflight) and runs read-only in the warehouse's
// sandbox. The console (/ui/) is loopback-only too and asks for the dev key
// on its login page. /debug/pprof is served only with Config.PProf, behind the
// loopback check (go tool pprof sends no key).
func (s *Stack) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.coll.HTTPHandler())
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.ready:
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if !s.coll.Ready() {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", s.loopback(s.keyed(s.metrics.handler)))
	if h := s.sinks.queryHandler(); h != nil {
		mux.Handle("POST /v1/sql", s.loopback(s.keyed(h)))
	}
	// hem rollup run: the rollups, now, through the stack's own runner.
	mux.Handle("POST /v1/rollups/run", s.loopback(s.keyed(rollup.Handler(s.rollups, s.reg))))
	// The console signs in with the dev key itself (its login page sets a
	// session cookie), so only the loopback check is added here.
	if s.console != nil {
		mux.Handle("/ui/", s.loopback(s.console.Handler()))
	}
	if s.cfg.PProf {
		// Profiles of the local stack: go tool pprof http://127.0.0.1:7072/debug/pprof/profile
		mux.Handle("/debug/pprof/", s.loopback(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", s.loopback(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", s.loopback(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", s.loopback(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("/debug/pprof/trace", s.loopback(http.HandlerFunc(pprof.Trace)))
	}
	return mux
}

// loopback refuses a request whose Host is not a loopback name with the
// port the server listens on (421), and one sent by a web page of another
// origin (403). A DNS-rebound page names its own host, so it gets 421.
func (s *Stack) loopback(next http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(s.HTTPAddr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host, port) {
			writeJSONError(w, http.StatusMisdirectedRequest, "hem dev answers this only to loopback host names (127.0.0.1, localhost, [::1]) with its port")
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Scheme != "http" || !loopbackHost(u.Host, port) {
				writeJSONError(w, http.StatusForbidden, "hem dev does not answer this to web pages")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport, port string) bool {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		host, p = hostport, "80" // no port: the default one
	}
	if p != port {
		return false
	}
	switch strings.ToLower(host) {
	case "127.0.0.1", "localhost", "::1":
		return true
	}
	return false
}

// keyed refuses a request without the dev key (401), in X-Api-Key or as
// "Authorization: Bearer KEY", as the event API takes it.
func (s *Stack) keyed(next http.Handler) http.Handler {
	want := []byte(s.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(auth.APIKeyHeader)
		if key == "" {
			if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				key = strings.TrimSpace(v)
			}
		}
		if key == "" || subtle.ConstantTimeCompare([]byte(key), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hem dev"`)
			writeJSONError(w, http.StatusUnauthorized, "the dev key is required: X-Api-Key: $(cat .hem/dev-key)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
