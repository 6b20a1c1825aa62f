// Package cache holds the copy-on-write map behind hem's caches of things
// built once per key and read on every event: the collector's plans, the
// processor's parsers and the registry client's versions.
//
// cache is part of the ground floor: it imports no other hem package.
package cache

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Map is a copy-on-write map for caches that are read far more often than
// they grow. A read is one atomic load and a map lookup and takes no lock;
// a write copies the map under a mutex, so it costs the map's size. The
// zero Map is empty and ready to use; a Map must not be copied after first
// use. Map is safe for concurrent use.
type Map[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

// Load returns the value stored under k.
func (c *Map[K, V]) Load(k K) (V, bool) {
	if p := c.m.Load(); p != nil {
		v, ok := (*p)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// LoadOrBuild returns the value stored under k if fresh accepts it (a nil
// fresh accepts any), or else stores and returns build(). build runs under
// the map's mutex, so concurrent misses of a key build it once (and misses
// of other keys wait): it suits values that are costly to build and few.
func (c *Map[K, V]) LoadOrBuild(k K, fresh func(V) bool, build func() V) V {
	if p := c.m.Load(); p != nil {
		if v, ok := (*p)[k]; ok && (fresh == nil || fresh(v)) {
			return v
		}
	}
	return c.build(k, fresh, build)
}

func (c *Map[K, V]) build(k K, fresh func(V) bool, build func() V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.m.Load(); p != nil { // built while this call waited
		if v, ok := (*p)[k]; ok && (fresh == nil || fresh(v)) {
			return v
		}
	}
	v := build()
	c.put(k, v)
	return v
}

// Store stores v under k.
func (c *Map[K, V]) Store(k K, v V) { c.StoreUnless(k, v, nil) }

// StoreUnless stores v under k unless k holds a value keep accepts (a nil
// keep accepts none): e.g. a newer version stays when an older one arrives
// late.
func (c *Map[K, V]) StoreUnless(k K, v V, keep func(old V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if keep != nil {
		if p := c.m.Load(); p != nil {
			if old, ok := (*p)[k]; ok && keep(old) {
				return
			}
		}
	}
	c.put(k, v)
}

// put stores v under k in a copy of the map; c.mu is held.
func (c *Map[K, V]) put(k K, v V) {
	var n map[K]V
	if p := c.m.Load(); p != nil {
		n = make(map[K]V, len(*p)+1)
		maps.Copy(n, *p)
	} else {
		n = make(map[K]V, 1)
	}
	n[k] = v
	c.m.Store(&n)
}
