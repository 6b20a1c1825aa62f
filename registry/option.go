package registry

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hemlabs/hem/contract"
)

// Migrator applies warehouse DDL (create table, add columns) for a schema
// version before the registry reports it usable. It must be idempotent. An
// error with a method Permanent() bool that reports true (sink.Permanent
// makes one) refuses the version: retrying cannot fix it; any other error
// leaves the version pending until a push retries the migration.
type Migrator interface {
	Migrate(ctx context.Context, s *contract.Schema) error
}

// ExpiryCounter is a Migrator that can count the rows its table of a
// version holds before a time. When a version shortens the warehouse
// retention (EV-D01), the registry adds the count to the preview of what
// would go.
type ExpiryCounter interface {
	// CountBefore counts the rows of t whose partition time is before
	// before; a table not created yet has none.
	CountBefore(ctx context.Context, t *contract.Table, before time.Time) (int64, error)
	// String names where the rows are, e.g. "the DuckDB warehouse".
	String() string
}

// MigratorFunc adapts a function to Migrator.
type MigratorFunc func(ctx context.Context, s *contract.Schema) error

// Migrate calls f.
func (f MigratorFunc) Migrate(ctx context.Context, s *contract.Schema) error { return f(ctx, s) }

// isPermanent reports whether err, or an error it wraps, says retrying
// cannot fix it.
func isPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// Option configures a Registry.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	migrators []Migrator
	refresh   time.Duration
	now       func() time.Time
}

func newConfig(opts []Option) (*config, error) {
	c := &config{refresh: time.Second, now: time.Now}
	for _, o := range opts {
		o.apply(c)
	}
	return c, c.validate()
}

func (c *config) validate() error {
	if c.refresh <= 0 {
		return errors.New("registry: refresh interval must be positive")
	}
	for _, m := range c.migrators {
		if m == nil {
			return errors.New("registry: nil migrator")
		}
	}
	return nil
}

// WithMigrator adds a warehouse migrator. A new version is stored PENDING,
// every migrator runs (in the order given), and the version becomes USABLE
// only when all of them succeeded. Without migrators versions are USABLE at
// once. Migrators must be idempotent: a failed migration is retried by the
// next registration of the same schema, possibly by another replica.
func WithMigrator(m Migrator) Option {
	return optionFunc(func(c *config) { c.migrators = append(c.migrators, m) })
}

// WithRefreshInterval bounds how stale the registry's view of versions
// written by other replicas may get (default 1s). Lookups of unknown ids or
// versions always re-read the store (at most every 100ms).
func WithRefreshInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.refresh = d })
}

// RegisterOption configures one Register call.
type RegisterOption interface {
	applyRegister(*registerConfig)
}

type registerOptionFunc func(*registerConfig)

func (f registerOptionFunc) applyRegister(c *registerConfig) { f(c) }

type registerConfig struct {
	dryRun       bool
	pushedBy     string
	commit       string
	ackRetention map[string]bool
}

// AcknowledgeRetention admits versions of the given subjects that shorten a
// retention (EV-D01): the user has seen what would go. Their results list
// the shortenings as Acknowledged instead of refusing them.
func AcknowledgeRetention(subjects ...string) RegisterOption {
	return registerOptionFunc(func(c *registerConfig) {
		if c.ackRetention == nil {
			c.ackRetention = map[string]bool{}
		}
		for _, s := range subjects {
			c.ackRetention[s] = true
		}
	})
}

// DryRun checks the candidates without storing anything: new versions are
// reported with the version they would get and id 0.
func DryRun() RegisterOption {
	return registerOptionFunc(func(c *registerConfig) { c.dryRun = true })
}

// PushedBy records who registers: the principal stored with each new
// version (the Service passes the one its credential check found).
func PushedBy(principal string) RegisterOption {
	return registerOptionFunc(func(c *registerConfig) { c.pushedBy = principal })
}

// WithCommit records the commit the contracts come from (e.g. a git SHA)
// with each new version. Register refuses one longer than MaxCommitLen
// bytes or with control characters.
func WithCommit(commit string) RegisterOption {
	return registerOptionFunc(func(c *registerConfig) { c.commit = commit })
}

// MaxCommitLen bounds the commit recorded with a version: enough for any
// VCS revision or a short ref, not a place for free text.
const MaxCommitLen = 200

// validCommit checks a commit given to WithCommit.
func validCommit(commit string) error {
	if len(commit) > MaxCommitLen {
		return fmt.Errorf("commit: %d bytes, at most %d: %w", len(commit), MaxCommitLen, ErrInvalid)
	}
	if !utf8.ValidString(commit) {
		return fmt.Errorf("commit: not valid UTF-8: %w", ErrInvalid)
	}
	for i, r := range commit {
		if unicode.IsControl(r) {
			return fmt.Errorf("commit: control character %U at byte %d: %w", r, i, ErrInvalid)
		}
	}
	return nil
}
