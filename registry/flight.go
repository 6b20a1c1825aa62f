package registry

import (
	"context"
	"time"

	"golang.org/x/sync/singleflight"
)

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
