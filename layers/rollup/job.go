package rollup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
)

// Job is one rollup ready to run: its declaration bound to its source's
// table.
type Job struct {
	// Schema is the rollup's version; its fingerprint is the rollup's
	// identity in the state (a new one backfills).
	Schema *contract.Schema
	Rollup *contract.Rollup
	// Source is the table of the newest version of the source event type.
	Source *contract.Table
}

// Name is the rollup's subject.
func (j *Job) Name() string { return j.Rollup.Subject }

// Table is the rollup table's name.
func (j *Job) Table() string { return j.Rollup.Table.Name }

// version is what the state remembers of the rollup's version: a prefix
// of its fingerprint short enough for a BigQuery label value.
func (j *Job) version() string {
	v := strings.ToLower(j.Schema.Fingerprint())
	if len(v) > 40 {
		v = v[:40]
	}
	return v
}

// NewJob binds the rollup version rollup to the version source of its
// source event type.
func NewJob(rollup, source *contract.Schema) (*Job, error) {
	r, err := rollup.Rollup()
	if err != nil {
		return nil, fmt.Errorf("rollup %s: %w", rollup.Subject, err)
	}
	if source == nil || source.Subject != r.Source || source.IsRollup() {
		return nil, fmt.Errorf("rollup %s: source %s is not an event type", r.Subject, r.Source)
	}
	t, err := contract.MapTable(source.Descriptor())
	if err != nil {
		return nil, fmt.Errorf("rollup %s: source %s: %w", r.Subject, r.Source, err)
	}
	if err := r.Bind(t); err != nil {
		return nil, fmt.Errorf("rollup %s: %w", r.Subject, err)
	}
	return &Job{Schema: rollup, Rollup: r, Source: t}, nil
}

// Schemas is what Jobs needs of the registry (a *registry.Registry or a
// *registry.Client).
type Schemas interface {
	Subjects(ctx context.Context) ([]*registryv1.SubjectInfo, error)
	Latest(ctx context.Context, subject string) (*contract.Schema, error)
}

// ErrNoRollup is returned by Jobs for a name that is not a registered
// rollup.
var ErrNoRollup = errors.New("no such rollup")

// Jobs returns the newest usable version of every registered rollup (only
// those named, when names are given), sorted by name, each bound to the
// newest usable version of its source.
func Jobs(ctx context.Context, schemas Schemas, names ...string) ([]*Job, error) {
	subjects, err := schemas.Subjects(ctx)
	if err != nil {
		return nil, fmt.Errorf("rollup: list subjects: %w", err)
	}
	var out []*Job
	found := map[string]bool{}
	for _, info := range subjects {
		name := info.GetSubject()
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		s, err := schemas.Latest(ctx, name)
		if err != nil {
			if len(names) == 0 {
				continue // a subject with no usable version yet
			}
			return nil, fmt.Errorf("rollup %s: %w", name, err)
		}
		if !s.IsRollup() {
			continue
		}
		r, err := s.Rollup()
		if err != nil {
			return nil, fmt.Errorf("rollup %s: %w", name, err)
		}
		source, err := schemas.Latest(ctx, r.Source)
		if err != nil {
			return nil, fmt.Errorf("rollup %s: source %s: %w", name, r.Source, err)
		}
		j, err := NewJob(s, source)
		if err != nil {
			return nil, err
		}
		found[name] = true
		out = append(out, j)
	}
	for _, n := range names {
		if !found[n] {
			return nil, fmt.Errorf("rollup %s: %w", n, ErrNoRollup)
		}
	}
	slices.SortFunc(out, func(a, b *Job) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})
	return out, nil
}

// day is the UTC day holding t.
func day(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}
