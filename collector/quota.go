package collector

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/hemlabs/hem/auth"
)

// quotas are the producers' shares of this collector (auth.Quota): a rate
// of events and a share of the in-flight budget each, so one producer
// hammering cannot starve the others. State is kept per principal name, so
// it survives a reload of the keys file; it is bounded by the names the
// keyring ever held.
type quotas struct {
	mu sync.Mutex
	m  map[string]*producerQuota
}

type producerQuota struct {
	mu       sync.Mutex
	quota    auth.Quota    // what limiter was set from
	limiter  *rate.Limiter // nil: no rate limit
	inflight atomic.Int64  // bytes of the producer's requests in flight
}

// overloadRetry is the delay a producer refused for bytes in flight is told
// to wait: requests usually finish within it.
const overloadRetry = time.Second

// retryAfterError is a refusal that says when to try again.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// retryAfter is how long err asks the caller to wait, 0 when it does not.
func retryAfter(err error) time.Duration {
	if ra, ok := errors.AsType[*retryAfterError](err); ok {
		return ra.after
	}
	return 0
}

// admit charges a request of n events and size bytes to p's quota and
// returns the function that gives the bytes back. batchEvents and
// batchBytes are the request limits, inflightBytes the collector's budget.
func (qs *quotas) admit(p *auth.Principal, n, size int, lim Limits, inflightBytes int64, now time.Time) (release func(), err error) {
	release, err = qs.admitBytes(p, int64(size), int64(lim.MaxBatchBytes), lim, inflightBytes)
	if err != nil {
		return nil, err
	}
	if err := qs.admitRate(p, n, lim, now); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// admitBytes charges size bytes to p's share of the in-flight budget and
// returns the function that gives them back. A share is never smaller than
// floor, what one full request is charged, so a producer is never locked
// out by its share alone.
func (qs *quotas) admitBytes(p *auth.Principal, size, floor int64, lim Limits, inflightBytes int64) (release func(), err error) {
	pq := qs.get(p, lim)
	share := max(int64(p.Quota.InflightShare*float64(inflightBytes)), floor)
	if p.Quota.InflightShare <= 0 || p.Quota.InflightShare >= 1 {
		share = inflightBytes
	}
	if pq.inflight.Add(size) > share {
		pq.inflight.Add(-size)
		return nil, &retryAfterError{
			err:   fmt.Errorf("%w: producer %q has %d bytes in flight, its share is %d", ErrQuotaExceeded, p.Name, pq.inflight.Load(), share),
			after: overloadRetry,
		}
	}
	return func() { pq.inflight.Add(-size) }, nil
}

// admitRate takes n events from p's rate.
func (qs *quotas) admitRate(p *auth.Principal, n int, lim Limits, now time.Time) error {
	l := qs.get(p, lim).limiterFor()
	if l == nil {
		return nil
	}
	r := l.ReserveN(now, n)
	if d := r.DelayFrom(now); !r.OK() || d > 0 {
		r.CancelAt(now)
		if !r.OK() {
			d = time.Duration(float64(n) / float64(l.Limit()) * float64(time.Second))
		}
		return &retryAfterError{
			err:   fmt.Errorf("%w: producer %q may send %g events per second", ErrQuotaExceeded, p.Name, p.Quota.Rate),
			after: d,
		}
	}
	return nil
}

// get is p's state, its limiter following p's current quota.
func (qs *quotas) get(p *auth.Principal, lim Limits) *producerQuota {
	qs.mu.Lock()
	pq, ok := qs.m[p.Name]
	if !ok {
		if qs.m == nil {
			qs.m = map[string]*producerQuota{}
		}
		pq = &producerQuota{}
		qs.m[p.Name] = pq
	}
	qs.mu.Unlock()
	pq.mu.Lock()
	defer pq.mu.Unlock()
	if !ok || pq.quota != p.Quota {
		pq.quota = p.Quota
		if p.Quota.Rate <= 0 || math.IsInf(p.Quota.Rate, 1) {
			pq.limiter = nil
		} else {
			// A burst holds at least one full batch, or a batch could
			// never pass.
			burst := max(p.Quota.Burst, int(math.Ceil(p.Quota.Rate)), lim.MaxBatchEvents)
			if pq.limiter == nil {
				pq.limiter = rate.NewLimiter(rate.Limit(p.Quota.Rate), burst)
			} else {
				pq.limiter.SetLimit(rate.Limit(p.Quota.Rate))
				pq.limiter.SetBurst(burst)
			}
		}
	}
	return pq
}

func (pq *producerQuota) limiterFor() *rate.Limiter {
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return pq.limiter
}
