package console

import (
	"errors"
	"html/template"
	"net/http"
)

// prefix is where the console is mounted; routes are full paths under it.
const prefix = "/ui/"

// Server is the console. Its handler is safe for concurrent use.
type Server struct {
	deps   Deps
	cfg    *config
	secret []byte
	tmpl   *template.Template
	static map[string]string // file → content hash, for cache busting
	h      http.Handler
	// sampler keeps the last hour of Metrics for the Live page (nil
	// without Metrics).
	sampler *Sampler
	// masks caches the SQL page's PII masks.
	masks *masker
}

// New builds the console over deps. Registry and Auth are required; a nil
// optional dependency makes its page say what is not configured.
func New(deps Deps, opts ...Option) (*Server, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if deps.Registry == nil {
		return nil, errors.New("console: a registry is required")
	}
	if deps.Auth == nil {
		return nil, errors.New("console: an authenticator is required")
	}
	s := &Server{deps: deps, cfg: cfg, masks: newMasker()}
	if s.secret, err = secretOf(cfg, deps.Auth); err != nil {
		return nil, err
	}
	if s.tmpl, s.static, err = parseUI(); err != nil {
		return nil, err
	}
	if err := s.newSampler(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	s.routes(mux)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusForbidden, "This form came from another site; the console accepts forms from its own pages only.")
	}))
	s.h = withHeaders(cop.Handler(s.withAuth(mux)))
	return s, nil
}

// Handler serves the console. Mount it at /ui/ (the routes are full
// paths, so no http.StripPrefix).
func (s *Server) Handler() http.Handler { return s.h }

// routes registers every page. A page file has one
// func (s *Server) routesX(mux *http.ServeMux) and one line here.
func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, prefix+"contracts", http.StatusFound)
	})
	mux.HandleFunc(prefix, func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
	mux.Handle("GET "+prefix+"static/", s.staticHandler())
	s.routesAuth(mux)
	s.routesContracts(mux)
	s.routesFailed(mux)
	s.routesLive(mux)
	s.routesArchive(mux)
	s.routesSources(mux)
	s.routesSQL(mux)
}

func withHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}
