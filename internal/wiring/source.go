package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source"
	"github.com/hemlabs/hem/source/ledger"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
	"github.com/hemlabs/hem/source/spec"
)

// Local names of the file sources' ledger (hem dev); terraform names the
// production bucket <prefix>-source-ledger.
const (
	DevLedgerBucket = "hem-ledger"
	LedgerPrefix    = "ledger/"
)

// SourceConfig is the file sources' configuration: hem source run, hem load
// and hem dev build their loader from it.
type SourceConfig struct {
	// Dir holds the declarations, sources/*.yaml.
	Dir string
	// LedgerBucket and LedgerPrefix are where the ledger lives.
	LedgerBucket string
	LedgerPrefix string
	// Owner names this loader in the ledger ("" picks host, pid and a
	// random suffix).
	Owner string
	// Lease is how long an object stays this loader's without a
	// checkpoint; a loader that dies leaves it to the next once it ends.
	Lease time.Duration
	// Workers map and check records at once, per load (0: one per CPU).
	Workers int
	// SpillDir and SpillMaxBytes are where a load keeps what its first
	// pass made of the records, so that its second pass need not read and
	// map the object again ("" is the system's temporary folder; 0 bytes
	// turns it off). See source.WithSpill.
	SpillDir      string
	SpillMaxBytes int64
}

// DefaultSourceConfig is the production configuration, without the ledger
// bucket every deployment names.
func DefaultSourceConfig() SourceConfig {
	return SourceConfig{Dir: "sources", LedgerPrefix: LedgerPrefix, Lease: time.Minute, SpillMaxBytes: 4 << 30}
}

// LoadDeclarations reads the declarations of dir. The error lists every
// problem with file and line; the declarations that are fine come with it.
func LoadDeclarations(dir string) ([]*sourcev1.Source, error) {
	decls, err := spec.Load(dir)
	srcs := make([]*sourcev1.Source, len(decls))
	for i, d := range decls {
		srcs[i] = d.Source
	}
	if err != nil {
		return srcs, fmt.Errorf("file sources in %s: %w", dir, err)
	}
	return srcs, nil
}

// SourcePrincipal is who a source's records come from, for the collector:
// the source's name (the events' _producer is source:NAME), allowed the
// one subject it declares.
func SourcePrincipal(src *sourcev1.Source) *auth.Principal {
	return collector.EdgePrincipal("source:"+src.GetName(), src.GetSubject())
}

// SourceCore adapts the collector's per-event core to the loader's
// source.Core, for the records of one source: they enter as p.
func SourceCore(c *collector.Collector, p *auth.Principal) source.Core {
	return &sourceCore{c: c, p: p}
}

type sourceCore struct {
	c *collector.Collector
	p *auth.Principal
}

func (a *sourceCore) Check(ctx context.Context, in []source.Input) ([]source.CheckResult, error) {
	res, prep, err := a.c.CheckPrepared(ctx, a.p, collectorInputs(in))
	if err != nil {
		return nil, refused(err)
	}
	out := make([]source.CheckResult, len(res))
	kept := make([]source.Prepared, len(res))
	for i, r := range res {
		out[i].Result = r
		if r.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			kept[i] = source.Prepared{Data: prep[i].Data, EntityKey: prep[i].EntityKey}
			out[i].Prepared = &kept[i]
		}
	}
	return out, nil
}

func (a *sourceCore) Ingest(ctx context.Context, in []source.Input) ([]*collectorv1.EventResult, error) {
	res, err := a.c.Ingest(ctx, a.p, collectorInputs(in))
	return res, refused(err)
}

// refused marks the collector's errors that no retry cures: the source may
// not send its subject, or a batch is larger than the collector takes.
func refused(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, collector.ErrPermissionDenied) || errors.Is(err, collector.ErrUnauthenticated) || errors.Is(err, collector.ErrBatchTooLarge) {
		return fmt.Errorf("%w: %w", source.ErrRefused, err)
	}
	return err
}

func collectorInputs(in []source.Input) []collector.Input {
	out := make([]collector.Input, len(in))
	var prep []collector.Prepared // one allocation for the batch's
	for i, s := range in {
		out[i] = collector.Input{Event: s.Event, Origin: s.Origin, Checked: s.Checked}
		if p := s.Prepared; p != nil {
			if prep == nil {
				prep = make([]collector.Prepared, 0, len(in)-i)
			}
			prep = append(prep, collector.Prepared{Data: p.Data, EntityKey: p.EntityKey})
			out[i].Prepared = &prep[len(prep)-1]
		}
		if r := s.Rejection; r != nil {
			out[i].Err = &collector.Rejection{Stage: r.Stage, Reason: r.Reason, Message: r.Message, Violations: r.Violations}
		}
	}
	return out
}

// SourceLoader loads objects and files of the declared sources through the
// collector's core: one wiring for hem source run, hem load and hem dev.
// Safe for concurrent use.
type SourceLoader struct {
	srcs    []*sourcev1.Source
	loaders map[string]*source.Loader
	ledger  *ledger.Ledger
	gcs     *storage.Client
	schemas collector.Schemas

	mu       sync.Mutex
	mappings map[mappingKey]*mapping.Mapping
}

type mappingKey struct {
	source   string
	schemaID int64
}

// NewSourceLoader builds the loader of the sources srcs over the collector
// c (its core, publishing to its topics), the registry (schemas: a source's
// mapping is compiled against its subject's latest version) and GCS (the
// landing buckets and the ledger). opts add to the loader's options.
func NewSourceLoader(cfg SourceConfig, srcs []*sourcev1.Source, c *collector.Collector, schemas collector.Schemas, gcs *storage.Client,
	log *slog.Logger, opts ...source.Option) (*SourceLoader, error) {
	if cfg.LedgerBucket == "" {
		return nil, errors.New("file sources: no ledger bucket")
	}
	if c == nil || schemas == nil || gcs == nil {
		return nil, errors.New("file sources: a loader needs a collector, a registry and GCS")
	}
	l := &SourceLoader{
		srcs:     srcs,
		loaders:  map[string]*source.Loader{},
		ledger:   ledger.New(gcs.Bucket(cfg.LedgerBucket), cfg.LedgerPrefix),
		gcs:      gcs,
		schemas:  schemas,
		mappings: map[mappingKey]*mapping.Mapping{},
	}
	base := []source.Option{source.WithLogger(log), source.WithSpill(cfg.SpillDir, cfg.SpillMaxBytes)}
	if cfg.Owner != "" {
		base = append(base, source.WithOwner(cfg.Owner))
	}
	if cfg.Lease > 0 {
		base = append(base, source.WithLease(cfg.Lease))
	}
	if cfg.Workers > 0 {
		base = append(base, source.WithWorkers(cfg.Workers))
	}
	for _, src := range srcs {
		// One loader per source: its records enter the core as its own
		// principal, allowed only its subject.
		ld, err := source.NewLoader(SourceCore(c, SourcePrincipal(src)), l.ledger, append(slices.Clone(base), opts...)...)
		if err != nil {
			return nil, fmt.Errorf("file source %s: %w", src.GetName(), err)
		}
		l.loaders[src.GetName()] = ld
	}
	return l, nil
}

// Sources are the declared sources, in name order.
func (l *SourceLoader) Sources() []*sourcev1.Source { return l.srcs }

// Source returns the source named name.
func (l *SourceLoader) Source(name string) (*sourcev1.Source, bool) {
	i := slices.IndexFunc(l.srcs, func(s *sourcev1.Source) bool { return s.GetName() == name })
	if i < 0 {
		return nil, false
	}
	return l.srcs[i], true
}

// Ledger is the ledger the loader records its objects in.
func (l *SourceLoader) Ledger() *ledger.Ledger { return l.ledger }

// Match finds the source whose bucket and pattern take gs://bucket/name.
func (l *SourceLoader) Match(bucket, name string) (*sourcev1.Source, bool) {
	for _, s := range l.srcs {
		if s.GetObjects().GetBucket() == bucket && spec.Match(s.GetObjects().GetPattern(), name) {
			return s, true
		}
	}
	return nil, false
}

// Mapping is src's mapping compiled against the latest version of its
// subject in the registry (compiled once per version).
func (l *SourceLoader) Mapping(ctx context.Context, src *sourcev1.Source) (*mapping.Mapping, error) {
	s, err := l.schemas.Latest(ctx, src.GetSubject())
	if err != nil {
		return nil, fmt.Errorf("file source %s: subject %s: %w", src.GetName(), src.GetSubject(), err)
	}
	k := mappingKey{src.GetName(), s.ID}
	l.mu.Lock()
	defer l.mu.Unlock()
	if m, ok := l.mappings[k]; ok {
		return m, nil
	}
	m, err := mapping.Compile(src, s.Descriptor())
	if err != nil {
		return nil, fmt.Errorf("file source %s: mapping onto %s v%d: %w", src.GetName(), src.GetSubject(), s.Version, err)
	}
	l.mappings[k] = m
	return m, nil
}

// Load loads obj for src, once, and returns its ledger entry as the load
// ended (see source.Loader.Load).
func (l *SourceLoader) Load(ctx context.Context, src *sourcev1.Source, obj read.Object) (*sourcev1.LedgerEntry, error) {
	ld, ok := l.loaders[src.GetName()]
	if !ok {
		return nil, fmt.Errorf("file source %s is not declared", src.GetName())
	}
	m, err := l.Mapping(ctx, src)
	if err != nil {
		return nil, err
	}
	return ld.Load(ctx, src, m, obj)
}

// LoadObject loads gs://bucket/name at generation (0: the current one).
func (l *SourceLoader) LoadObject(ctx context.Context, src *sourcev1.Source, bucket, name string, generation int64) (*sourcev1.LedgerEntry, error) {
	obj, err := read.GCSObject(ctx, l.gcs.Bucket(bucket), name, generation)
	if errors.Is(err, read.ErrObjectGone) {
		return nil, fmt.Errorf("%w: %w", ErrObjectMissing, err)
	}
	if err != nil {
		return nil, err
	}
	return l.Load(ctx, src, obj)
}

var _ ObjectLoader = (*SourceLoader)(nil)
