package sink

import (
	"context"
	"errors"
)

// Tee returns a sink that writes every batch to each of sinks in turn; an
// event is durable only when every sink wrote it. A failed event is
// permanent when any sink refused it for good. A retried event is written
// again to the sinks that already had it, which keep one row per id (the
// warehouses) or skip ids they archived recently (the archive). The
// failed-events processor uses it to store failures in the warehouse and
// the archive (internal/wiring). Failed events are few, so the sinks are
// written one after the other rather than at once. The tee is safe for
// concurrent use when its sinks are.
func Tee(sinks ...Sink) Sink { return tee(sinks) }

type tee []Sink

var _ Sink = tee(nil)

func (t tee) Write(ctx context.Context, b *Batch) error {
	errs := make([]error, len(t))
	for i, s := range t {
		errs[i] = s.Write(ctx, b)
	}
	failed := map[int]error{}
	for i := range b.Events {
		var perEvent []error
		for _, err := range errs {
			if e := ErrorFor(err, i); e != nil {
				perEvent = append(perEvent, e)
			}
		}
		if len(perEvent) > 0 {
			failed[i] = errors.Join(perEvent...)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &BatchError{Failed: failed}
}

func (t tee) Close(ctx context.Context) error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Close(ctx))
	}
	return errors.Join(errs...)
}
