package bigquery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// unreachableAfter is how long the Storage Write API may fail to connect
// before writes give up with ErrUnavailable: long enough for a reconnect
// to succeed after a dropped connection, short enough that an outage is
// nacked, logged and counted within seconds instead of holding batches.
const unreachableAfter = 2 * time.Second

// ErrUnavailable is why a write failed while BigQuery could not be reached
// or did not answer. It is retryable: nothing of the batch was acked.
var ErrUnavailable = errors.New("BigQuery is unavailable")

// health follows whether the Storage Write API can be reached, from what
// the client's own gRPC calls see (the managedwriter library retries
// connections for ever and reports nothing while it does), and keeps the
// last status the server ended a stream with: the library may replace it
// with io.EOF.
type health struct {
	mu      sync.Mutex
	failing error     // the last connection failure; nil once a call got through
	since   time.Time // start of the current run of failures
	ended   error     // the last status a server ended a stream with
	endedAt time.Time
}

// Health reports whether BigQuery's Storage Write API could be reached at
// the last attempt: nil if so, else an error wrapping ErrUnavailable that
// says since when and why. It is meant for readiness probes and logs.
func (s *Sink) Health() error {
	if err, since := s.health.failure(); err != nil {
		return fmt.Errorf("%w: the Storage Write API has been unreachable since %s: %w", ErrUnavailable, since.UTC().Format(time.RFC3339), err)
	}
	return nil
}

func (h *health) failure() (error, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failing, h.since
}

// down returns why BigQuery counts as unreachable: connections have failed
// for unreachableAfter with none getting through.
func (h *health) down() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing == nil || time.Since(h.since) < unreachableAfter {
		return nil
	}
	return fmt.Errorf("%w: the Storage Write API has been unreachable for %s: %w", ErrUnavailable, time.Since(h.since).Round(time.Second), h.failing)
}

// observe records the outcome of a call or of a stream's receive.
func (h *health) observe(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		return // our own cancellation, or a clean end: nothing learnt
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch status.Code(err) {
	case codes.OK:
		h.failing = nil
	case codes.Unavailable, codes.DeadlineExceeded:
		if h.failing == nil {
			h.since = time.Now()
		}
		h.failing = err
	case codes.Canceled:
	default:
		h.failing = nil // the server answered, if with an error
		h.ended, h.endedAt = err, time.Now()
	}
}

// endedSince returns the last status a server ended a stream with, if it
// did so at or after t.
func (h *health) endedSince(t time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended == nil || h.endedAt.Before(t) {
		return nil
	}
	return h.ended
}

// isWriteAPI reports whether a gRPC method is the Storage Write API's.
func isWriteAPI(method string) bool {
	return strings.HasPrefix(method, "/google.cloud.bigquery.storage.v1.BigQueryWrite/")
}

func (h *health) unaryInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if isWriteAPI(method) {
		h.observe(ctx, err)
	}
	return err
}

func (h *health) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if !isWriteAPI(method) {
		return cs, err
	}
	h.observe(ctx, err)
	if err != nil {
		return nil, err
	}
	return &watchedStream{ClientStream: cs, h: h}, nil
}

// watchedStream reports each receive to health.
type watchedStream struct {
	grpc.ClientStream
	h *health
}

func (w *watchedStream) RecvMsg(m any) error {
	err := w.ClientStream.RecvMsg(m)
	w.h.observe(w.Context(), err)
	return err
}

// watch returns a context for one write's calls to BigQuery. It ends, with
// a cause wrapping ErrUnavailable, once the Write API has been unreachable
// for unreachableAfter while this write waited at least that long, or when
// the write has had no answer for WriteTimeout; or when ctx ends.
func (s *Sink) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	start := time.Now()
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			waited := time.Since(start)
			if waited >= unreachableAfter {
				if err := s.health.down(); err != nil {
					cancel(err)
					return
				}
			}
			if waited >= s.cfg.WriteTimeout {
				cancel(fmt.Errorf("%w: no answer from BigQuery within %s", ErrUnavailable, s.cfg.WriteTimeout))
				return
			}
		}
	}()
	return wctx, func() { cancel(context.Canceled) }
}

// cause is the reason a watched context ended, or err.
func cause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(c, context.DeadlineExceeded) {
			return c
		}
		return ctx.Err()
	}
	return err
}
