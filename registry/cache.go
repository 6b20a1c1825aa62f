package registry

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// cowMap is a copy-on-write map: reads are one atomic load and a map lookup,
// writes copy the map under a mutex. It suits caches that are read far more
// often than they grow (schemas by id, latest versions).
type cowMap[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

func (c *cowMap[K, V]) load(k K) (V, bool) {
	if p := c.m.Load(); p != nil {
		v, ok := (*p)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// update stores v under k unless keep(old) says the cached value is to stay.
func (c *cowMap[K, V]) update(k K, v V, keep func(old V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n map[K]V
	if p := c.m.Load(); p != nil {
		if old, ok := (*p)[k]; ok && keep != nil && keep(old) {
			return
		}
		n = make(map[K]V, len(*p)+1)
		maps.Copy(n, *p)
	} else {
		n = make(map[K]V, 1)
	}
	n[k] = v
	c.m.Store(&n)
}

func (c *cowMap[K, V]) store(k K, v V) { c.update(k, v, nil) }

// clear drops every entry.
func (c *cowMap[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Store(nil)
}

// flightTimeout bounds a shared fetch, which no single caller can cancel.
const flightTimeout = 30 * time.Second

// flight runs fn once for concurrent callers of the same key. fn runs on a
// context that a single caller's cancellation does not end (others may
// still wait for it); each caller stops waiting when its own ctx ends.
func flight[T any](ctx context.Context, g *singleflight.Group, key string, fn func(context.Context) (T, error)) (T, error) {
	ch := g.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flightTimeout)
		defer cancel()
		return fn(fctx)
	})
	select {
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			var zero T
			return zero, res.Err
		}
		return res.Val.(T), nil
	}
}
