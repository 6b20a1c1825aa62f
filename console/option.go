package console

import (
	"errors"
	"io"
	"log/slog"
	"time"
)

// Option configures a Server.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	logger *slog.Logger
	secret []byte
	now    func() time.Time
	// sampleEvery is the Live page's sampling interval (0: the default).
	sampleEvery time.Duration
}

func newConfig(opts []Option) (*config, error) {
	c := &config{now: time.Now}
	for _, o := range opts {
		o.apply(c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.secret != nil && len(c.secret) < 16 {
		return nil, errors.New("console: the secret must have at least 16 bytes")
	}
	return c, nil
}

// WithLogger logs the failures the console answers with a 500 (the page
// itself shows no detail). Nil logs nothing.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithSecret sets the key that signs CSRF tokens. Instances behind one
// load balancer must share it. Default: derived from the key of KeyAuth,
// else random per process (fine for a single instance).
func WithSecret(secret []byte) Option {
	return optionFunc(func(c *config) { c.secret = secret })
}
