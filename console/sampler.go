package console

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Sampler reads Metrics every interval and keeps the snapshots of the last
// window (an hour by default) in a ring, from which the Live page draws its
// rates and sparklines. Snapshots hold cumulative counters; rates are the
// differences of consecutive snapshots, a counter that went down (its
// process restarted) counting from zero again.
//
// Run samples until its context ends. A Sampler nobody runs still answers:
// Window takes a sample when the last one is older than the interval, so
// the page shows current values (without history). Safe for concurrent use.
type Sampler struct {
	metrics Metrics
	every   time.Duration
	now     func() time.Time

	mu      sync.Mutex
	ring    []*Snapshot // oldest first once full: ring[(head+i)%len]
	head, n int
	lastErr error
	errAt   time.Time
}

// SamplerOption configures a Sampler.
type SamplerOption interface{ applySampler(*samplerConfig) }

type samplerConfig struct {
	every, window time.Duration
	now           func() time.Time
}

type samplerOptionFunc func(*samplerConfig)

func (f samplerOptionFunc) applySampler(c *samplerConfig) { f(c) }

// SampleEvery sets the sampling interval (default 10 s).
func SampleEvery(d time.Duration) SamplerOption {
	return samplerOptionFunc(func(c *samplerConfig) { c.every = d })
}

// SampleWindow sets how much history the ring keeps (default 1 h).
func SampleWindow(d time.Duration) SamplerOption {
	return samplerOptionFunc(func(c *samplerConfig) { c.window = d })
}

// SampleClock replaces time.Now (tests).
func SampleClock(now func() time.Time) SamplerOption {
	return samplerOptionFunc(func(c *samplerConfig) { c.now = now })
}

// NewSampler returns a sampler of m.
func NewSampler(m Metrics, opts ...SamplerOption) (*Sampler, error) {
	cfg := samplerConfig{every: 10 * time.Second, window: time.Hour, now: time.Now}
	for _, o := range opts {
		o.applySampler(&cfg)
	}
	switch {
	case m == nil:
		return nil, errors.New("console: sampler: no metrics")
	case cfg.every <= 0:
		return nil, errors.New("console: sampler: the interval must be positive")
	case cfg.window < cfg.every:
		return nil, errors.New("console: sampler: the window must hold at least one interval")
	}
	// One more slot than the window holds intervals: n samples make n-1 rates.
	size := int(cfg.window/cfg.every) + 1
	return &Sampler{metrics: m, every: cfg.every, now: cfg.now, ring: make([]*Snapshot, size)}, nil
}

// Every is the sampling interval.
func (s *Sampler) Every() time.Duration { return s.every }

// Run samples every interval until ctx ends; it returns nil then. A failed
// sample is kept as the error Window reports and does not stop Run.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		_ = s.Sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sample takes one snapshot now and keeps it.
func (s *Sampler) Sample(ctx context.Context) error {
	snap, err := s.metrics.Snapshot(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr, s.errAt = fmt.Errorf("console: metrics: %w", err), s.now()
		return s.lastErr
	}
	if snap.At.IsZero() {
		snap.At = s.now()
	}
	s.lastErr = nil
	s.push(snap)
	return nil
}

// push keeps snap, dropping the oldest when the ring is full. Called with
// s.mu held.
func (s *Sampler) push(snap *Snapshot) {
	if s.n > 0 && !snap.At.After(s.at(s.n-1).At) {
		return // a clock that did not move makes no rate
	}
	if s.n < len(s.ring) {
		s.ring[(s.head+s.n)%len(s.ring)] = snap
		s.n++
		return
	}
	s.ring[s.head] = snap
	s.head = (s.head + 1) % len(s.ring)
}

func (s *Sampler) at(i int) *Snapshot { return s.ring[(s.head+i)%len(s.ring)] }

// Window is what the Live page shows: the current values and the series of
// the kept window. When the last sample is older than one and a half
// intervals (nobody runs the sampler) it samples first.
func (s *Sampler) Window(ctx context.Context) (*Window, error) {
	s.mu.Lock()
	// Half an interval of slack, so that a request does not sample just
	// before Run would.
	stale := s.n == 0 || s.now().Sub(s.at(s.n-1).At) >= s.every+s.every/2
	s.mu.Unlock()
	var err error
	if stale {
		err = s.Sample(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	snaps := make([]*Snapshot, s.n)
	for i := range snaps {
		snaps[i] = s.at(i)
	}
	if s.n == 0 {
		return nil, err
	}
	w := window(snaps, s.every)
	if s.lastErr != nil {
		w.Err = s.lastErr.Error()
	}
	return w, nil
}

// Window is the Live page's data: per subject and per processor, the
// current values and their series over the kept window (one point per
// sample; a rate's point is the rate since the sample before it).
type Window struct {
	At    time.Time `json:"at"`
	Every float64   `json:"every_seconds"`
	// Span is the time the series cover.
	Span       float64         `json:"span_seconds"`
	Subjects   []SubjectLive   `json:"subjects"`
	Processors []ProcessorLive `json:"processors"`
	// Err is the last sample's error, if it failed (the rest is older).
	Err string `json:"error,omitempty"`
}

// SubjectLive is one subject's rates. A nil value is not measured (yet):
// rates need two samples, a p99 needs answers in the last interval.
type SubjectLive struct {
	Subject  string    `json:"subject"`
	Accepted *float64  `json:"accepted_per_second"`
	Rejected *float64  `json:"rejected_per_second"`
	P99      *float64  `json:"p99_seconds"`
	AccSerie []float64 `json:"accepted_series"`
	RejSerie []float64 `json:"rejected_series"`
	P99Serie []float64 `json:"p99_series"`
}

// ProcessorLive is one processor's (subscription's) queue.
type ProcessorLive struct {
	Processor   string    `json:"processor"`
	Backlog     *float64  `json:"backlog"`
	OldestAge   *float64  `json:"oldest_unacked_seconds"`
	DeadLetters *float64  `json:"dead_letters"`
	BacklogSer  []float64 `json:"backlog_series"`
	AgeSer      []float64 `json:"oldest_unacked_series"`
	DeadSer     []float64 `json:"dead_letters_series"`
}

// window computes a Window from snapshots, oldest first (at least one).
func window(snaps []*Snapshot, every time.Duration) *Window {
	last := snaps[len(snaps)-1]
	w := &Window{At: last.At, Every: every.Seconds(), Span: last.At.Sub(snaps[0].At).Seconds()}
	subjects := map[string]bool{}
	procs := map[string]bool{}
	for _, sn := range snaps {
		for _, m := range []map[string]float64{sn.Accepted, sn.Rejected, sn.P99} {
			for k := range m {
				subjects[k] = true
			}
		}
		for _, m := range []map[string]float64{sn.Backlog, sn.DeadLetters} {
			for k := range m {
				procs[k] = true
			}
		}
		for k := range sn.OldestAge {
			procs[k] = true
		}
	}
	for _, subj := range slices.Sorted(maps.Keys(subjects)) {
		sl := SubjectLive{
			Subject:  subj,
			AccSerie: rates(snaps, func(s *Snapshot) map[string]float64 { return s.Accepted }, subj),
			RejSerie: rates(snaps, func(s *Snapshot) map[string]float64 { return s.Rejected }, subj),
			P99Serie: gauges(snaps, func(s *Snapshot) (float64, bool) { v, ok := s.P99[subj]; return v, ok }),
		}
		if len(snaps) > 1 {
			sl.Accepted = ptr(sl.AccSerie[len(sl.AccSerie)-1])
			sl.Rejected = ptr(sl.RejSerie[len(sl.RejSerie)-1])
		}
		if v, ok := last.P99[subj]; ok {
			sl.P99 = ptr(v)
		}
		w.Subjects = append(w.Subjects, sl)
	}
	for _, p := range slices.Sorted(maps.Keys(procs)) {
		pl := ProcessorLive{
			Processor:  p,
			BacklogSer: gauges(snaps, func(s *Snapshot) (float64, bool) { v, ok := s.Backlog[p]; return v, ok }),
			AgeSer: gauges(snaps, func(s *Snapshot) (float64, bool) {
				v, ok := s.OldestAge[p]
				return v.Seconds(), ok
			}),
			DeadSer: gauges(snaps, func(s *Snapshot) (float64, bool) { v, ok := s.DeadLetters[p]; return v, ok }),
		}
		if v, ok := last.Backlog[p]; ok {
			pl.Backlog = ptr(v)
		}
		if v, ok := last.OldestAge[p]; ok {
			pl.OldestAge = ptr(v.Seconds())
		}
		if v, ok := last.DeadLetters[p]; ok {
			pl.DeadLetters = ptr(v)
		}
		w.Processors = append(w.Processors, pl)
	}
	return w
}

// rates is the per-second rate of a counter between consecutive snapshots
// (len(snaps)-1 points). A counter lower than before was reset: its process
// restarted and counted from zero, so the whole new value is the increase.
// A counter missing before started from zero too (a new label).
func rates(snaps []*Snapshot, pick func(*Snapshot) map[string]float64, key string) []float64 {
	out := make([]float64, 0, max(len(snaps)-1, 0))
	for i := 1; i < len(snaps); i++ {
		prev, cur := pick(snaps[i-1])[key], pick(snaps[i])[key]
		d := cur - prev
		if d < 0 {
			d = cur
		}
		out = append(out, d/snaps[i].At.Sub(snaps[i-1].At).Seconds())
	}
	return out
}

// gauges is a gauge's value at each snapshot, zero where it was missing.
func gauges(snaps []*Snapshot, pick func(*Snapshot) (float64, bool)) []float64 {
	out := make([]float64, len(snaps))
	for i, s := range snaps {
		out[i], _ = pick(s)
	}
	return out
}

func ptr(v float64) *float64 { return &v }
