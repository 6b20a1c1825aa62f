package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/registry"
)

// ui holds the templates, the CSS and the JS. Every ui/*.html is parsed
// into one set: a page file defines {{define "NAME"}} (the body) and,
// optionally, {{define "NAME:title"}}; names are prefixed by their page
// ("contracts-subject", "failed-group") so they never collide.
//
//go:embed ui
var ui embed.FS

// layoutData is what ui/layout.html sees.
type layoutData struct {
	Title   string
	Section string // the nav entry to highlight
	Viewer  Viewer
	CSRF    string
	Session bool // signed in with the key: offer to sign out
	Body    template.HTML
}

// pageData is what a page's template sees: .Data is the handler's, the
// rest is for forms (.CSRF) and permissions (.Viewer).
type pageData struct {
	Viewer Viewer
	CSRF   string
	Data   any
}

var navSections = []struct{ Path, Label, Key string }{
	{"contracts", "Contracts", "c"},
	{"live", "Live", "l"},
	{"failed", "Failed", "f"},
	{"events", "Find", "e"},
	{"sql", "SQL", "q"},
	{"sources", "Sources", "s"},
	{"archive", "Archive", "a"},
}

func parseUI() (*template.Template, map[string]string, error) {
	static := map[string]string{}
	err := fs.WalkDir(ui, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".html") {
			return err
		}
		b, err := ui.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		static[strings.TrimPrefix(p, "ui/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("console: static files: %w", err)
	}
	fm := funcs()
	fm["static"] = func(name string) (string, error) {
		h, ok := static[name]
		if !ok {
			return "", fmt.Errorf("no static file %q", name)
		}
		return prefix + "static/" + name + "?v=" + h, nil
	}
	t, err := template.New("").Funcs(fm).ParseFS(ui, "ui/*.html")
	if err != nil {
		return nil, nil, fmt.Errorf("console: templates: %w", err)
	}
	return t, static, nil
}

// funcs are the template helpers every page may use.
func funcs() template.FuncMap {
	return template.FuncMap{
		"nav": func() any { return navSections },
		// dash shows "—" for an empty value.
		"dash": func(v any) any {
			switch x := v.(type) {
			case nil:
				return "—"
			case string:
				if x == "" {
					return "—"
				}
			case time.Time:
				if x.IsZero() {
					return "—"
				}
			}
			return v
		},
		// when is a time in UTC, to the second.
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"ago":   func(t time.Time) string { return ago(time.Since(t)) },
		"num":   func(n any) string { return thousands(fmt.Sprint(n)) },
		"bytes": humanBytes,
		"join":  strings.Join,
		// path escapes one path segment (a subject, an id).
		"path":  url.PathEscape,
		"query": url.QueryEscape,
		"add":   func(a, b int) int { return a + b },
		"cell":  cell,
		// short is a commit's first 12 characters.
		"short": func(s string) string { return s[:min(len(s), 12)] },
		// indent is depth levels of nesting in a column list.
		"indent": func(depth int) string {
			return strings.Repeat("  ", depth) + map[bool]string{true: "↳ ", false: ""}[depth > 0]
		},
		// pick feeds the version <select> template.
		"pick": func(name string, selected int, versions []versionRow) any {
			return struct {
				Name     string
				Selected int
				Versions []versionRow
			}{name, selected, versions}
		},
		"piiHelp": func(h string) string {
			switch h {
			case "HASH":
				return "the collector stores a keyed hash (joins still work)"
			case "REDACT":
				return "the collector replaces the value with a fixed marker"
			case "DROP":
				return "the collector clears the field: it never reaches Pub/Sub, BigQuery or the archive"
			case "ENCRYPT":
				return "the collector encrypts the value (Tink AEAD, a random nonce); readers with the key decrypt it"
			case "ENCRYPT_DETERMINISTIC":
				return "the collector encrypts the value deterministically (equal values give equal ciphertexts, so joins work and equality shows)"
			}
			return ""
		},
	}
}

func (s *Server) staticHandler() http.Handler {
	sub, _ := fs.Sub(ui, "ui")
	files := http.StripPrefix(prefix+"static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, prefix+"static/")
		h, ok := s.static[name]
		if !ok {
			s.fail(w, r, http.StatusNotFound, "There is no file "+r.URL.Path+".")
			return
		}
		if r.URL.Query().Get("v") == h {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

// page renders the template name (its body) inside the layout with the
// given status. data reaches the template as .Data.
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	pd := pageData{Viewer: viewerOf(r), CSRF: s.csrfToken(r), Data: data}
	var body bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&body, name, pd); err != nil {
		s.internal(w, r, fmt.Errorf("console: page %s: %w", name, err))
		return
	}
	title := ""
	if t := s.tmpl.Lookup(name + ":title"); t != nil {
		var b bytes.Buffer
		if err := t.Execute(&b, pd); err == nil {
			title = strings.TrimSpace(b.String())
		}
	}
	s.layout(w, r, status, title, template.HTML(body.String())) //nolint:gosec // body is html/template output
}

func (s *Server) layout(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
	ld := layoutData{Title: title, Section: section(r.URL.Path), Viewer: viewerOf(r), CSRF: s.csrfToken(r), Body: body}
	if _, err := r.Cookie(sessionCookie); err == nil {
		ld.Session = true
	}
	var out bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&out, "layout", ld); err != nil {
		s.cfg.logger.ErrorContext(r.Context(), "console layout", "err", err)
		http.Error(w, "the console could not render this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = out.WriteTo(w)
}

type failData struct {
	Status  int
	Text    string
	Message string
}

// fail answers with an error page: the layout, the status and msg, which
// must name what was wrong in words a user understands (never an
// internal error's text: use failErr or internal for those).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.page(w, r, status, "error", failData{Status: status, Text: http.StatusText(status), Message: msg})
}

// failErr answers for an error of a dependency: not found → 404,
// invalid → 400, both with the error's own message; unavailable or
// timed out → 503; a request the browser gave up → nothing; anything
// else → internal. Prefer fail with your own words when you know what
// was looked for ("no subject X").
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the browser went away
	}
	switch code := statusCode(err); code {
	case http.StatusNotFound, http.StatusBadRequest:
		s.fail(w, r, code, grpcMessage(err))
	case http.StatusServiceUnavailable:
		s.fail(w, r, code, "A service the console reads did not answer in time; try again in a moment.")
	default:
		s.internal(w, r, err)
	}
}

// statusCode is the HTTP status for a dependency's error.
func statusCode(err error) int {
	code := codes.Unknown
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		code = se.GRPCStatus().Code()
	}
	switch {
	case errors.Is(err, registry.ErrNotFound) || code == codes.NotFound:
		return http.StatusNotFound
	case errors.Is(err, registry.ErrInvalid) || code == codes.InvalidArgument || code == codes.FailedPrecondition:
		return http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded) || code == codes.Unavailable || code == codes.DeadlineExceeded:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// internal logs err and answers 500 without its text.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.logger.ErrorContext(r.Context(), "console", "path", r.URL.Path, "err", err)
	if r.URL.Path != "" && s.tmpl.Lookup("error") != nil {
		var body bytes.Buffer
		fd := failData{Status: 500, Text: http.StatusText(500), Message: "Something went wrong on our side; the logs of the console say what."}
		if s.tmpl.ExecuteTemplate(&body, "error", pageData{Data: fd}) == nil {
			s.layout(w, r, http.StatusInternalServerError, "Error", template.HTML(body.String())) //nolint:gosec // html/template output
			return
		}
	}
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func section(p string) string {
	rest := strings.TrimPrefix(p, prefix)
	first, _, _ := strings.Cut(rest, "/")
	return first
}

func urlQuery(s string) string { return url.QueryEscape(s) }

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	default:
		return strconv.Itoa(int(d.Hours()/24)) + " days ago"
	}
}

// thousands puts thin separators into an integer's digits.
func thousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if _, err := strconv.ParseInt(s, 10, 64); err != nil || len(s) <= 3 {
		if neg {
			return "-" + s
		}
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
