// Package loadgen drives "hem loadgen": it sends the sample events of
// sink/sinktest/sample through a collector at a steady rate and reports what
// came back (accepted, rejected, retried, latency quantiles).
package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/client"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// Emitter sends events; *client.Client is one.
type Emitter interface {
	Emit(ctx context.Context, msg proto.Message, opts ...client.EmitOption) *client.Result
	Flush(ctx context.Context) error
}

// Config is one load run.
type Config struct {
	// Rate is events per second; Duration how long to send.
	Rate     int
	Duration time.Duration
	Subjects []string
	// InvalidShare of the events break a contract rule on purpose.
	InvalidShare float64
	Seed         uint64
	// Progress receives a line per ProgressEvery; nil for none.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Accepted, when set, receives the id of every accepted event, one a
	// line, so a run can be checked against the warehouse.
	Accepted io.Writer
	// Rejected, when set, receives the id of every rejected event (the
	// collector records each as a failed event).
	Rejected io.Writer
}

// Report is what a run measured.
type Report struct {
	Sent, Accepted, Rejected, Failed int64
	// RejectedValid counts rejections of events generated valid (should
	// be zero); AcceptedInvalid the opposite.
	RejectedValid, AcceptedInvalid int64
	Elapsed                        time.Duration
	// P50 and P99 are Emit-to-result latencies of accepted events.
	P50, P99, Max time.Duration
}

// Throughput is accepted plus rejected events per second.
func (r Report) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted+r.Rejected) / r.Elapsed.Seconds()
}

func (r Report) String() string {
	return fmt.Sprintf("sent %d, accepted %d, rejected %d, failed %d in %s: %.0f events/s; latency p50 %s, p99 %s, max %s",
		r.Sent, r.Accepted, r.Rejected, r.Failed, r.Elapsed.Round(time.Millisecond), r.Throughput(),
		r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond))
}

type pending struct {
	res   *client.Result
	start time.Time
	valid bool
}

// Run sends events at cfg.Rate for cfg.Duration (or until ctx ends), waits
// for every result, and reports. It stops sending, but still collects
// results, when ctx ends.
func Run(ctx context.Context, e Emitter, cfg Config) (Report, error) {
	if cfg.Rate <= 0 {
		return Report{}, errors.New("loadgen: rate must be positive")
	}
	g, err := sample.NewGenerator(cfg.Seed, cfg.Subjects, cfg.InvalidShare)
	if err != nil {
		return Report{}, err
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	var (
		st      stats
		results = make(chan pending, 64*1024)
		waiters sync.WaitGroup
		idsMu   sync.Mutex
		ids     *bufio.Writer
		rejIDs  *bufio.Writer
	)
	if cfg.Accepted != nil {
		ids = bufio.NewWriter(cfg.Accepted)
	}
	if cfg.Rejected != nil {
		rejIDs = bufio.NewWriter(cfg.Rejected)
	}
	// Results are awaited apart from sending, so a slow answer never slows
	// the send rate.
	for range 16 {
		waiters.Go(func() {
			for p := range results {
				r, err := p.res.Get(context.WithoutCancel(ctx))
				st.record(p, r, err)
				var rejected *client.RejectedError
				switch {
				case err == nil && r.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_ACCEPTED && ids != nil:
					idsMu.Lock()
					ids.WriteString(r.GetEventId() + "\n")
					idsMu.Unlock()
				case errors.As(err, &rejected) && rejIDs != nil:
					idsMu.Lock()
					rejIDs.WriteString(rejected.Result.GetEventId() + "\n")
					idsMu.Unlock()
				}
			}
		})
	}

	start := time.Now()
	stopProgress := progress(cfg, &st, start)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var sent int64
send:
	for {
		elapsed := time.Since(start)
		if cfg.Duration > 0 && elapsed >= cfg.Duration {
			break
		}
		due := int64(float64(cfg.Rate) * elapsed.Seconds())
		for ; sent < due; sent++ {
			ev := g.Next()
			p := pending{start: time.Now(), valid: ev.Valid}
			p.res = e.Emit(ctx, ev.Message, client.WithEventTime(ev.Time))
			st.sent.Add(1)
			results <- p
			if ctx.Err() != nil {
				break send
			}
		}
		select {
		case <-ctx.Done():
			break send
		case <-tick.C:
		}
	}
	flushErr := e.Flush(context.WithoutCancel(ctx))
	close(results)
	waiters.Wait()
	stopProgress()
	for _, w := range []*bufio.Writer{ids, rejIDs} {
		if w == nil {
			continue
		}
		if err := w.Flush(); err != nil {
			return Report{}, fmt.Errorf("loadgen: write ids: %w", err)
		}
	}
	rep := st.report(time.Since(start))
	if flushErr != nil && !errors.Is(flushErr, context.Canceled) {
		return rep, fmt.Errorf("loadgen: flush: %w", flushErr)
	}
	return rep, nil
}

func progress(cfg Config, st *stats, start time.Time) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			answered := st.accepted.Load() + st.rejected.Load()
			fmt.Fprintf(cfg.Progress, "%5.0fs  sent %d  accepted %d  rejected %d  failed %d  %.0f events/s\n",
				time.Since(start).Seconds(), st.sent.Load(), st.accepted.Load(), st.rejected.Load(), st.failed.Load(),
				float64(answered-last)/cfg.ProgressEvery.Seconds())
			last = answered
		}
	})
	return func() { close(done); wg.Wait() }
}

// stats counts results; latencies go to a log-scale histogram so memory
// stays constant however long the run.
type stats struct {
	sent, accepted, rejected, failed atomic.Int64
	rejectedValid, acceptedInvalid   atomic.Int64
	mu                               sync.Mutex
	hist                             [histBuckets]int64
	max                              time.Duration
}

const (
	histBuckets = 1200
	histGrowth  = 1.02 // bucket i holds latencies up to 1µs·1.02^i (≈ 2% resolution, up to ~3 days)
)

func (s *stats) record(p pending, r *collectorv1.EventResult, err error) {
	var rejected *client.RejectedError
	switch {
	case err == nil && r.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_ACCEPTED:
		s.accepted.Add(1)
		if !p.valid {
			s.acceptedInvalid.Add(1)
		}
		d := time.Since(p.start)
		i := 0
		if us := float64(d) / float64(time.Microsecond); us > 1 {
			i = min(histBuckets-1, int(math.Ceil(math.Log(us)/math.Log(histGrowth))))
		}
		s.mu.Lock()
		s.hist[i]++
		s.max = max(s.max, d)
		s.mu.Unlock()
	case errors.As(err, &rejected) || (err == nil && r.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_REJECTED):
		s.rejected.Add(1)
		if p.valid {
			s.rejectedValid.Add(1)
		}
	default:
		s.failed.Add(1)
	}
}

func (s *stats) report(elapsed time.Duration) Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Report{
		Sent: s.sent.Load(), Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), Failed: s.failed.Load(),
		RejectedValid: s.rejectedValid.Load(), AcceptedInvalid: s.acceptedInvalid.Load(),
		Elapsed: elapsed, Max: s.max,
	}
	r.P50, r.P99 = s.quantile(0.50), s.quantile(0.99)
	return r
}

func (s *stats) quantile(q float64) time.Duration {
	var total int64
	for _, n := range s.hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, n := range s.hist {
		seen += n
		if seen >= want {
			// The bucket's upper bound, but never above the slowest answer.
			return min(time.Duration(math.Pow(histGrowth, float64(i))*float64(time.Microsecond)), s.max)
		}
	}
	return s.max
}

// envelope is the NDJSON line "hem emit -" reads.
type envelope struct {
	Type      string          `json:"type"`
	EventID   string          `json:"event_id,omitempty"`
	EventTime string          `json:"event_time,omitempty"`
	Payload   json.RawMessage `json:"payload"`
}

// Print writes count generated events as NDJSON envelopes, the input of
// "hem emit -".
func Print(w io.Writer, count int, subjects []string, invalidShare float64, seed uint64) error {
	g, err := sample.NewGenerator(seed, subjects, invalidShare)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for range count {
		ev := g.Next()
		payload, err := protojson.Marshal(ev.Message)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		err = enc.Encode(envelope{
			Type:      string(ev.Message.ProtoReflect().Descriptor().FullName()),
			EventTime: ev.Time.Format(time.RFC3339Nano),
			Payload:   payload,
		})
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
	}
	return bw.Flush()
}
