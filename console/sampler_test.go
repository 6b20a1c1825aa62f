package console_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/hemlabs/hem/console"
)

// scripted is a Metrics that answers its snapshots in turn, each stamped
// with the fake clock's time, then repeats the last.
type scripted struct {
	mu    sync.Mutex
	clock *fakeClock
	snaps []*console.Snapshot
	errs  []error
	i     int
}

func (s *scripted) Snapshot(context.Context) (*console.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.i, len(s.snaps)-1)
	s.i++
	if i < len(s.errs) && s.errs[i] != nil {
		return nil, s.errs[i]
	}
	c := *s.snaps[i]
	c.At = s.clock.Now()
	return &c, nil
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func counters(acc, rej float64) *console.Snapshot {
	return &console.Snapshot{
		Accepted: map[string]float64{"shop.v1.Order": acc},
		Rejected: map[string]float64{"shop.v1.Order": rej},
	}
}

func TestSamplerRates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		snaps    []*console.Snapshot
		accepted []float64 // the rate series, per second
		rejected []float64
	}{
		{"steady", []*console.Snapshot{counters(0, 0), counters(100, 10), counters(300, 10)}, []float64{10, 20}, []float64{1, 0}},
		// The collector restarted between the 2nd and 3rd sample and
		// counted 50 since: 50 in that interval, never a negative rate.
		{"counter reset", []*console.Snapshot{counters(1000, 5), counters(1100, 5), counters(50, 2)}, []float64{10, 5}, []float64{0, 0.2}},
		{"one sample", []*console.Snapshot{counters(5, 5)}, []float64{}, []float64{}},
		// A subject first seen mid-window counted from zero.
		{"new label", []*console.Snapshot{{}, counters(30, 0)}, []float64{3}, []float64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			m := &scripted{clock: clock, snaps: tt.snaps}
			s, err := console.NewSampler(m, console.SampleEvery(10*time.Second), console.SampleClock(clock.Now))
			if err != nil {
				t.Fatal(err)
			}
			for range tt.snaps {
				if err := s.Sample(t.Context()); err != nil {
					t.Fatal(err)
				}
				clock.Add(10 * time.Second)
			}
			clock.Add(-10 * time.Second) // Window must not sample again
			w, err := s.Window(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Subjects) != 1 {
				t.Fatalf("subjects %+v, want one", w.Subjects)
			}
			sl := w.Subjects[0]
			if !equal(sl.AccSerie, tt.accepted) || !equal(sl.RejSerie, tt.rejected) {
				t.Errorf("accepted/s %v rejected/s %v, want %v %v", sl.AccSerie, sl.RejSerie, tt.accepted, tt.rejected)
			}
			if len(tt.accepted) == 0 {
				if sl.Accepted != nil {
					t.Errorf("a rate from one sample: %v", *sl.Accepted)
				}
			} else if sl.Accepted == nil || *sl.Accepted != tt.accepted[len(tt.accepted)-1] {
				t.Errorf("current accepted/s %v, want %v", sl.Accepted, tt.accepted[len(tt.accepted)-1])
			}
		})
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9 {
			return false
		}
	}
	return true
}

// The ring keeps the last window: an hour of 10 s samples is 361 samples
// (360 rates), the oldest dropped first.
func TestSamplerKeepsTheLastWindow(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	var snaps []*console.Snapshot
	for i := range 500 {
		snaps = append(snaps, counters(float64(10*i*i), 0)) // sample i's rate: 2i-1 per second
	}
	m := &scripted{clock: clock, snaps: snaps}
	s, err := console.NewSampler(m, console.SampleClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	for range snaps {
		if err := s.Sample(t.Context()); err != nil {
			t.Fatal(err)
		}
		clock.Add(10 * time.Second)
	}
	clock.Add(-10 * time.Second)
	w, err := s.Window(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ser := w.Subjects[0].AccSerie
	if len(ser) != 360 || w.Span != 3600 {
		t.Fatalf("%d rates over %v s, want 360 over 3600", len(ser), w.Span)
	}
	// The last rate: (499²-498²)·10/10 = 997 per second.
	if ser[len(ser)-1] != 997 || ser[0] != float64(2*(499-359)-1) {
		t.Errorf("first and last rate %v %v, want %v 997", ser[0], ser[len(ser)-1], float64(2*(499-359)-1))
	}
}

func TestSamplerGaugesAndErrors(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	snap := &console.Snapshot{
		Backlog:     map[string]float64{"hem-events-duckdb": 42},
		OldestAge:   map[string]time.Duration{"hem-events-duckdb": 90 * time.Second},
		DeadLetters: map[string]float64{"hem-events-duckdb": 3},
		P99:         map[string]float64{"shop.v1.Order": 0.012},
	}
	m := &scripted{clock: clock, snaps: []*console.Snapshot{snap, snap}, errs: []error{nil, errors.New("gatherer down")}}
	s, err := console.NewSampler(m, console.SampleClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing kept yet: the first look samples.
	if _, err := s.Window(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	w, err := s.Window(t.Context()) // stale: samples again, which fails
	if err != nil {
		t.Fatal(err)
	}
	if w.Err == "" {
		t.Error("a failed sample is not reported")
	}
	p := w.Processors[0]
	if p.Processor != "hem-events-duckdb" || *p.Backlog != 42 || *p.OldestAge != 90 || *p.DeadLetters != 3 {
		t.Errorf("processor %+v", p)
	}
	if *w.Subjects[0].P99 != 0.012 || w.Subjects[0].Accepted != nil {
		t.Errorf("subject %+v: p99 0.012 and no rate from one sample", w.Subjects[0])
	}
}

func TestSamplerRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m := &scripted{clock: clock, snaps: []*console.Snapshot{counters(1, 0)}}
	s, err := console.NewSampler(m, console.SampleEvery(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.i < 2 {
		t.Errorf("%d samples in 20 ms at 1 ms", m.i)
	}
}

func TestNewSamplerRefusesBadSettings(t *testing.T) {
	t.Parallel()
	m := &scripted{}
	for _, opts := range [][]console.SamplerOption{
		{console.SampleEvery(0)},
		{console.SampleEvery(time.Minute), console.SampleWindow(time.Second)},
	} {
		if _, err := console.NewSampler(m, opts...); err == nil {
			t.Errorf("NewSampler(%v) accepted", opts)
		}
	}
	if _, err := console.NewSampler(nil); err == nil {
		t.Error("NewSampler(nil) accepted")
	}
}
