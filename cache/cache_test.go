package cache_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hemlabs/hem/cache"
)

func TestMapLoadStore(t *testing.T) {
	t.Parallel()
	var m cache.Map[string, int]
	if v, ok := m.Load("a"); ok || v != 0 {
		t.Fatalf("empty Load = %d, %v", v, ok)
	}
	m.Store("a", 1)
	m.Store("b", 2)
	m.Store("a", 3)
	for _, tc := range []struct {
		key  string
		want int
		ok   bool
	}{{"a", 3, true}, {"b", 2, true}, {"c", 0, false}} {
		if v, ok := m.Load(tc.key); v != tc.want || ok != tc.ok {
			t.Errorf("Load(%q) = %d, %v, want %d, %v", tc.key, v, ok, tc.want, tc.ok)
		}
	}
}

func TestMapStoreUnless(t *testing.T) {
	t.Parallel()
	newer := func(v int) func(old int) bool { return func(old int) bool { return old > v } }
	for _, tc := range []struct {
		name   string
		stores []int
		want   int
	}{
		{"in order", []int{1, 2, 3}, 3},
		{"a late older one is dropped", []int{1, 3, 2}, 3},
		{"equal replaces", []int{2, 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m cache.Map[string, int]
			for _, v := range tc.stores {
				m.StoreUnless("k", v, newer(v))
			}
			if v, _ := m.Load("k"); v != tc.want {
				t.Errorf("got %d, want %d", v, tc.want)
			}
		})
	}
}

func TestMapLoadOrBuild(t *testing.T) {
	t.Parallel()
	type entry struct{ gen int }
	for _, tc := range []struct {
		name      string
		fresh     func(gen int) func(*entry) bool
		gens      []int // the generation each call wants
		wantBuild int
	}{
		{"nil fresh builds once", func(int) func(*entry) bool { return nil }, []int{1, 2, 3}, 1},
		{"fresh entries are kept", func(g int) func(*entry) bool { return func(e *entry) bool { return e.gen == g } }, []int{1, 1, 1}, 1},
		{"a stale entry is built again", func(g int) func(*entry) bool { return func(e *entry) bool { return e.gen == g } }, []int{1, 2, 2, 1}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m cache.Map[int, *entry]
			builds := 0
			for _, g := range tc.gens {
				e := m.LoadOrBuild(7, tc.fresh(g), func() *entry { builds++; return &entry{gen: g} })
				if f := tc.fresh(g); f != nil && !f(e) {
					t.Errorf("gen %d: got a stale entry of gen %d", g, e.gen)
				}
			}
			if builds != tc.wantBuild {
				t.Errorf("built %d times, want %d", builds, tc.wantBuild)
			}
		})
	}
}

// Concurrent misses of one key build it once, and readers never see a map
// being written (run with -race).
func TestMapConcurrent(t *testing.T) {
	t.Parallel()
	var m cache.Map[int, string]
	var builds atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 100 {
				got := m.LoadOrBuild(k, nil, func() string { builds.Add(1); return strconv.Itoa(k) })
				if got != strconv.Itoa(k) {
					t.Errorf("key %d = %q", k, got)
					return
				}
				m.Store(1000+g*100+k, "x")
				if _, ok := m.Load(k); !ok {
					t.Errorf("key %d lost", k)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 100 {
		t.Errorf("built %d values for 100 keys", n)
	}
}

func BenchmarkMapLoad(b *testing.B) {
	var m cache.Map[int64, *int]
	for i := range int64(64) {
		m.Store(i, new(int))
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := m.Load(42); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok := m.Load(42); !ok {
					b.Fatal("miss")
				}
			}
		})
	})
}

// BenchmarkMapLoadOrBuild measures a hit checked for freshness, as the
// collector and the processor look up a plan or a parser per event.
func BenchmarkMapLoadOrBuild(b *testing.B) {
	type entry struct{ fp string }
	var m cache.Map[int64, *entry]
	for i := range int64(64) {
		m.Store(i, &entry{fp: strconv.FormatInt(i, 16)})
	}
	want := strconv.FormatInt(42, 16)
	b.ReportAllocs()
	for b.Loop() {
		m.LoadOrBuild(42, func(e *entry) bool { return e.fp == want }, func() *entry { return &entry{fp: want} })
	}
}
