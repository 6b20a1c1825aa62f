package console

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The metric families PromSource reads, as the OTel Prometheus exporter
// names the instruments of the collector and of hem dev's Pub/Sub server.
const (
	promEvents      = "hem_collector_events_total"            // {type, status}
	promAnswer      = "hem_collector_answer_duration_seconds" // histogram {type}
	promBacklog     = "hem_pubsub_subscription_backlog"       // {subscription}
	promOldest      = "hem_pubsub_subscription_oldest_unacked_age_seconds"
	promDeadLetters = "hem_pubsub_subscription_dead_letters"
)

// PromSource is Metrics over a Prometheus registry: hem dev's, which holds
// the collector's, the processors' and the Pub/Sub server's instruments.
// The p99 of a snapshot is over the answers since the previous snapshot
// (the histogram's buckets' increase), so PromSource keeps the last
// buckets it read; one PromSource serves one sampler. Safe for concurrent
// use.
type PromSource struct {
	g   prometheus.Gatherer
	now func() time.Time

	mu   sync.Mutex
	prev map[string]histogram // by subject
}

var _ Metrics = (*PromSource)(nil)

// NewPromSource reads g.
func NewPromSource(g prometheus.Gatherer) *PromSource {
	return &PromSource{g: g, now: time.Now, prev: map[string]histogram{}}
}

// histogram is a classic histogram's cumulative counts per upper bound
// (the +Inf bucket is count).
type histogram struct {
	bounds []float64
	cum    []float64
	count  float64
}

// Snapshot gathers the registry now.
func (p *PromSource) Snapshot(context.Context) (*Snapshot, error) {
	fams, err := p.g.Gather()
	if err != nil && len(fams) == 0 {
		return nil, fmt.Errorf("console: gather metrics: %w", err)
	}
	s := &Snapshot{
		At:          p.now(),
		Accepted:    map[string]float64{},
		Rejected:    map[string]float64{},
		P99:         map[string]float64{},
		Backlog:     map[string]float64{},
		OldestAge:   map[string]time.Duration{},
		DeadLetters: map[string]float64{},
	}
	hists := map[string]histogram{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case promEvents:
				switch label(m, "status") {
				case "accepted":
					s.Accepted[label(m, "type")] += m.GetCounter().GetValue()
				case "rejected":
					s.Rejected[label(m, "type")] += m.GetCounter().GetValue()
				}
			case promAnswer:
				t := label(m, "type")
				hists[t] = addHistogram(hists[t], m.GetHistogram())
			case promBacklog:
				s.Backlog[label(m, "subscription")] += gaugeValue(m)
			case promOldest:
				sub := label(m, "subscription")
				s.OldestAge[sub] = max(s.OldestAge[sub], time.Duration(gaugeValue(m)*float64(time.Second)))
			case promDeadLetters:
				s.DeadLetters[label(m, "subscription")] += gaugeValue(m)
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for subject, h := range hists {
		if q, ok := quantile(0.99, since(h, p.prev[subject])); ok {
			s.P99[subject] = q
		}
	}
	p.prev = hists
	return s, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func gaugeValue(m *dto.Metric) float64 {
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetUntyped().GetValue()
}

// addHistogram adds h's buckets to acc (series of one subject that differ
// in other labels); a series with other bounds than acc's is left out.
func addHistogram(acc histogram, h *dto.Histogram) histogram {
	bounds := make([]float64, 0, len(h.GetBucket()))
	cum := make([]float64, 0, len(h.GetBucket()))
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		bounds = append(bounds, b.GetUpperBound())
		cum = append(cum, float64(b.GetCumulativeCount()))
	}
	if acc.bounds == nil {
		return histogram{bounds: bounds, cum: cum, count: float64(h.GetSampleCount())}
	}
	if len(bounds) != len(acc.bounds) {
		return acc
	}
	for i := range cum {
		acc.cum[i] += cum[i]
	}
	acc.count += float64(h.GetSampleCount())
	return acc
}

// since is cur less prev: the observations between two reads. A count
// that went down means the process restarted: all of cur is new.
func since(cur, prev histogram) histogram {
	if prev.bounds == nil || len(prev.bounds) != len(cur.bounds) || cur.count < prev.count {
		return cur
	}
	d := histogram{bounds: cur.bounds, cum: make([]float64, len(cur.cum)), count: cur.count - prev.count}
	for i := range cur.cum {
		if cur.cum[i] < prev.cum[i] {
			return cur
		}
		d.cum[i] = cur.cum[i] - prev.cum[i]
	}
	return d
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear within the bucket the rank falls in; in the +Inf bucket,
// the highest finite bound. ok is false without observations.
func quantile(q float64, h histogram) (float64, bool) {
	if h.count <= 0 {
		return 0, false
	}
	rank := q * h.count
	i := sort.Search(len(h.cum), func(i int) bool { return h.cum[i] >= rank })
	if i == len(h.cum) {
		if len(h.bounds) == 0 {
			return 0, false
		}
		return h.bounds[len(h.bounds)-1], true
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h.bounds[i-1], h.cum[i-1]
	}
	in := h.cum[i] - below
	if in <= 0 {
		return h.bounds[i], true
	}
	return lower + (h.bounds[i]-lower)*(rank-below)/in, true
}

// errNoMetrics is what a Live page without Metrics says.
var errNoMetrics = errors.New("no metrics source is configured")
