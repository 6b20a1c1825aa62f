package bigquerytest

import (
	"errors"
	"time"
)

// defaultMaxRequestBytes is the Storage Write API's documented limit for one
// AppendRows request.
const defaultMaxRequestBytes = 10 * 1024 * 1024

// Option configures a [Server].
type Option func(*config)

type config struct {
	propagationDelay time.Duration
	now              func() time.Time
	maxRequestBytes  int
	connSchema       bool
	dropUnknown      bool
	noETags          bool
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		now:             time.Now,
		maxRequestBytes: defaultMaxRequestBytes,
	}
	for _, o := range opts {
		o(c)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *config) validate() error {
	if c.propagationDelay < 0 {
		return errors.New("bigquerytest: negative schema propagation delay")
	}
	if c.now == nil {
		return errors.New("bigquerytest: nil clock")
	}
	if c.maxRequestBytes <= 0 {
		return errors.New("bigquerytest: max request bytes must be positive")
	}
	return nil
}

// WithSchemaPropagationDelay makes the Storage Write API see a table's schema
// change only d after the tables.patch that made it: until then AppendRows
// validates writer schemas against the previous schema. Real BigQuery takes
// minutes; the default is 0 (changes are visible at once). A table's schema at
// creation is visible immediately.
func WithSchemaPropagationDelay(d time.Duration) Option {
	return func(c *config) { c.propagationDelay = d }
}

// WithClock sets the clock used for schema propagation and for the creation
// and modification times of datasets and tables. Tests advance it to step over
// the propagation delay without sleeping. It must be safe for concurrent use.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithMaxRequestBytes sets the largest AppendRows request (by proto.Size) the
// server accepts; larger ones fail the stream with INVALID_ARGUMENT, as
// BigQuery does. The default is 10 MiB.
func WithMaxRequestBytes(n int) Option {
	return func(c *config) { c.maxRequestBytes = n }
}

// WithConnectionSchema makes the server behave like a BigQuery-API server
// that reads every request of a connection with the connection's first
// writer schema, whatever stream a later request names or schema it
// carries. Rows of a second table on a multiplexed connection then decode
// with the first table's schema: fields whose names match no column are
// dropped, so their columns are stored NULL. BigQuery keeps a writer
// schema per stream; this mode is for showing why hem can turn
// multiplexing off.
func WithConnectionSchema() Option {
	return func(c *config) { c.connSchema = true }
}

// WithDropUnknownFields makes the server accept, and drop, writer schema
// fields the table lacks and row fields the writer schema lacks, instead of
// refusing them as BigQuery does: a compatible server that does so loses
// the values silently unless the writer checks the table first.
func WithDropUnknownFields() Option {
	return func(c *config) { c.dropUnknown = true }
}

// WithoutETags makes the REST API send no etags, as some compatible
// servers do; If-Match headers are still honoured.
func WithoutETags() Option {
	return func(c *config) { c.noETags = true }
}
