package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/idtoken"
)

// ErrUnauthenticated is what an Authenticator answers for a request it
// cannot tie to anybody.
var ErrUnauthenticated = errors.New("console: not signed in")

const (
	sessionCookie = "hem_console"
	sessionTTL    = 12 * time.Hour
	csrfField     = "csrf"
	csrfHeader    = "X-Csrf-Token"
	// maxForm bounds a POST's body (a pasted .proto is the largest).
	maxForm = 4 << 20
)

// KeyAuthenticator lets in whoever presents the API key: as X-Api-Key, as
// a bearer token, or as the session cookie its login page set. hem dev uses
// it with the development key. Safe for concurrent use.
type KeyAuthenticator struct {
	key    []byte
	sign   []byte // derived from the key: rotating the key ends every session
	viewer Viewer
	now    func() time.Time
}

var _ Authenticator = (*KeyAuthenticator)(nil)

// KeyAuth returns an Authenticator for one API key. Key holders may replay
// but do not see PII values.
func KeyAuth(key string) *KeyAuthenticator {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("hem console session v1"))
	return &KeyAuthenticator{
		key:    []byte(key),
		sign:   m.Sum(nil),
		viewer: Viewer{Name: "api key", MayReplay: true},
		now:    time.Now,
	}
}

// Authenticate implements Authenticator.
func (a *KeyAuthenticator) Authenticate(r *http.Request) (Viewer, error) {
	if k, ok := headerKey(r); ok {
		if a.keyOK(k) {
			return a.viewer, nil
		}
		return Viewer{}, fmt.Errorf("%w: wrong API key", ErrUnauthenticated)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return Viewer{}, ErrUnauthenticated
	}
	if err := a.checkSession(c.Value); err != nil {
		return Viewer{}, err
	}
	return a.viewer, nil
}

// login checks a key typed into the login page and returns a session
// cookie value and how long it lasts.
func (a *KeyAuthenticator) login(key string) (string, time.Duration, error) {
	if !a.keyOK(key) {
		return "", 0, fmt.Errorf("%w: wrong API key", ErrUnauthenticated)
	}
	exp := strconv.FormatInt(a.now().Add(sessionTTL).Unix(), 10)
	return exp + "." + a.mac(exp), sessionTTL, nil
}

func (a *KeyAuthenticator) secret() []byte { return a.sign }

func (a *KeyAuthenticator) keyOK(k string) bool {
	return len(a.key) > 0 && subtle.ConstantTimeCompare([]byte(k), a.key) == 1
}

func (a *KeyAuthenticator) mac(s string) string {
	m := hmac.New(sha256.New, a.sign)
	m.Write([]byte("session\x00" + s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *KeyAuthenticator) checkSession(v string) error {
	exp, sig, ok := strings.Cut(v, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(a.mac(exp))) {
		return fmt.Errorf("%w: bad session", ErrUnauthenticated)
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || a.now().Unix() > n {
		return fmt.Errorf("%w: session expired", ErrUnauthenticated)
	}
	return nil
}

// headerKey is the key of X-Api-Key or Authorization: Bearer. Browsers
// never attach these to a cross-site request, so such requests need no
// CSRF token.
func headerKey(r *http.Request) (string, bool) {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k, true
	}
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") {
		return strings.TrimSpace(tok), true
	}
	return "", false
}

// loginer is an Authenticator with a login page (KeyAuth).
type loginer interface {
	login(key string) (value string, ttl time.Duration, err error)
}

// IAPConfig configures IAPAuth.
type IAPConfig struct {
	// Audience of the IAP JWT: /projects/NUMBER/global/backendServices/ID
	// or /projects/NUMBER/apps/PROJECT_ID. Required.
	Audience string
	// Replayers may replay failed events and redrive dead letters;
	// PIIReaders see PII values. E-mail addresses; nobody by default.
	Replayers, PIIReaders []string
	// Decrypters see encrypted fields in clear. E-mail addresses; nobody
	// by default.
	Decrypters []string
}

// tokenValidator is the part of *idtoken.Validator IAPAuth needs (a seam
// for tests).
type tokenValidator interface {
	Validate(ctx context.Context, token, audience string) (*idtoken.Payload, error)
}

// IAPAuthenticator trusts Identity-Aware Proxy: it checks the signed
// header X-Goog-IAP-JWT-Assertion (signature, audience, issuer, expiry)
// and takes the viewer's e-mail from it.
type IAPAuthenticator struct {
	cfg IAPConfig
	v   tokenValidator
}

var _ Authenticator = (*IAPAuthenticator)(nil)

// IAPAuth returns an Authenticator for a console behind IAP. It fetches
// Google's IAP keys when it first needs them.
//
// VERIFY: checked against idtoken's ES256 path and Google's documented
// claims, not yet against a deployed IAP.
func IAPAuth(ctx context.Context, cfg IAPConfig) (*IAPAuthenticator, error) {
	if cfg.Audience == "" {
		return nil, errors.New("console: IAP audience is required")
	}
	v, err := idtoken.NewValidator(ctx)
	if err != nil {
		return nil, fmt.Errorf("console: iap validator: %w", err)
	}
	return &IAPAuthenticator{cfg: cfg, v: v}, nil
}

const iapIssuer = "https://cloud.google.com/iap"

// Authenticate implements Authenticator.
func (a *IAPAuthenticator) Authenticate(r *http.Request) (Viewer, error) {
	tok := r.Header.Get("X-Goog-Iap-Jwt-Assertion")
	if tok == "" {
		return Viewer{}, fmt.Errorf("%w: no IAP assertion", ErrUnauthenticated)
	}
	p, err := a.v.Validate(r.Context(), tok, a.cfg.Audience)
	if err != nil {
		return Viewer{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	email, _ := p.Claims["email"].(string)
	if p.Issuer != iapIssuer || email == "" {
		return Viewer{}, fmt.Errorf("%w: IAP assertion without issuer or e-mail", ErrUnauthenticated)
	}
	return Viewer{
		Name:       email,
		MayReplay:  slices.Contains(a.cfg.Replayers, email),
		MaySeePII:  slices.Contains(a.cfg.PIIReaders, email),
		MayDecrypt: slices.Contains(a.cfg.Decrypters, email),
	}, nil
}

// secretOf picks the key that signs CSRF tokens.
func secretOf(cfg *config, auth Authenticator) ([]byte, error) {
	if cfg.secret != nil {
		return cfg.secret, nil
	}
	if s, ok := auth.(interface{ secret() []byte }); ok {
		return s.secret(), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("console: secret: %w", err)
	}
	return b, nil
}

// csrfToken is bound to the session cookie (KeyAuth) or to the viewer
// (IAP, whose cookie the console never sees).
func (s *Server) csrfToken(r *http.Request) string {
	bind := "viewer\x00" + viewerOf(r).Name
	if c, err := r.Cookie(sessionCookie); err == nil {
		bind = "session\x00" + c.Value
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("csrf\x00" + bind))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF passes requests that carry the key in a header (no browser
// sends one cross-site) and forms whose token matches.
func (s *Server) checkCSRF(r *http.Request) bool {
	if _, ok := headerKey(r); ok {
		return true
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrfToken(r)))
}

type viewerKey struct{}

// viewerOf is who is looking (set by the auth middleware).
func viewerOf(r *http.Request) Viewer {
	v, _ := r.Context().Value(viewerKey{}).(Viewer)
	return v
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// withAuth authenticates every request but the login page and the static
// files, and checks CSRF on every unsafe method.
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix+"login" || strings.HasPrefix(r.URL.Path, prefix+"static/") {
			next.ServeHTTP(w, r)
			return
		}
		v, err := s.deps.Auth.Authenticate(r)
		if err != nil {
			_, sentKey := headerKey(r) // an API client: no login page for it
			if _, ok := s.deps.Auth.(loginer); ok && !sentKey && safeMethod(r.Method) && !wantsJSON(r) {
				http.Redirect(w, r, prefix+"login?next="+urlQuery(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, http.StatusUnauthorized, "Not signed in: send the API key as X-Api-Key or a bearer token, or sign in at "+prefix+"login.")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, v))
		if !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		if !safeMethod(r.Method) && !s.checkCSRF(r) {
			s.fail(w, r, http.StatusForbidden, "This form expired or came from another site. Reload the page and send it again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/html")
}

// routesAuth: the login page and signing out.
func (s *Server) routesAuth(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"login", s.loginPage)
	mux.HandleFunc("POST "+prefix+"login", s.loginPost)
	mux.HandleFunc("POST "+prefix+"logout", s.logout)
}

type loginData struct {
	Next    string
	CanKey  bool
	Message string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	_, can := s.deps.Auth.(loginer)
	status := http.StatusOK
	if !can {
		status = http.StatusUnauthorized
	}
	s.page(w, r, status, "login", loginData{Next: safeNext(r.FormValue("next")), CanKey: can})
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	l, ok := s.deps.Auth.(loginer)
	if !ok {
		s.fail(w, r, http.StatusNotFound, "This console signs in through Identity-Aware Proxy, not with a key.")
		return
	}
	next := safeNext(r.PostFormValue("next"))
	val, ttl, err := l.login(r.PostFormValue("key"))
	if err != nil {
		s.page(w, r, http.StatusUnauthorized, "login", loginData{Next: next, CanKey: true, Message: "That is not the API key. Try again."})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: val, Path: prefix, MaxAge: int(ttl.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isTLS(r),
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: prefix, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isTLS(r),
	})
	http.Redirect(w, r, prefix+"login", http.StatusSeeOther)
}

// safeNext keeps a redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, prefix) || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return prefix
	}
	return next
}

func isTLS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}
