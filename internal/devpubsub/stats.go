package devpubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/protobuf/encoding/protowire"
)

// SubscriptionStats is a subscription's queue at one instant, what Cloud
// Monitoring reports of a real one (num_undelivered_messages,
// oldest_unacked_message_age, and the dead-letter topic's backlog).
type SubscriptionStats struct {
	// Name is the subscription's short name.
	Name string
	// Backlog counts unacknowledged messages, leased ones included.
	Backlog int
	// OldestUnacked is the age of the oldest unacknowledged message, zero
	// when there is none.
	OldestUnacked time.Duration
	// DeadLetters counts the messages waiting on the subscriptions of the
	// dead-letter topic; HasDeadLetter is false without a dead-letter
	// policy (or when nothing subscribes to its topic, where Pub/Sub
	// would keep nothing either).
	DeadLetters   int
	HasDeadLetter bool
}

// Stats reports every subscription's queue, sorted by name.
func (s *Server) Stats() []SubscriptionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	out := make([]SubscriptionStats, 0, len(s.subs))
	for full, sb := range s.subs {
		st := SubscriptionStats{Name: full[strings.LastIndex(full, "/")+1:], Backlog: sb.queue.len() + len(sb.leases)}
		// Deliveries are queued in publish order and put back in front
		// when a lease ends, so the oldest is the queue's first or a lease.
		var oldest int64 // Unix nanoseconds, 0 for none
		if d, ok := sb.queue.front(); ok {
			oldest = d.msg.published
		}
		for _, l := range sb.leases {
			if t := l.d.msg.published; t != 0 && (oldest == 0 || t < oldest) {
				oldest = t
			}
		}
		if oldest != 0 {
			st.OldestUnacked = max(now.Sub(time.Unix(0, oldest)), 0)
		}
		if t, ok := s.topics[sb.proto.GetDeadLetterPolicy().GetDeadLetterTopic()]; ok && len(t.subs) > 0 {
			st.HasDeadLetter = true
			for _, dl := range t.subs {
				st.DeadLetters += dl.queue.len() + len(dl.leases)
			}
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b SubscriptionStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// publishTime reads PubsubMessage.publish_time from a message's encoding
// (the server always sets it); zero if missing.
func publishTime(raw []byte) time.Time {
	var at time.Time
	for b := raw; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return time.Time{}
		}
		b = b[n:]
		if num != publishTimeField || typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return time.Time{}
			}
			b = b[m:]
			continue
		}
		ts, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return time.Time{}
		}
		b = b[m:]
		var secs, nanos int64
		for len(ts) > 0 {
			fnum, ftyp, k := protowire.ConsumeTag(ts)
			if k < 0 || ftyp != protowire.VarintType {
				return time.Time{}
			}
			v, j := protowire.ConsumeVarint(ts[k:])
			if j < 0 {
				return time.Time{}
			}
			switch fnum {
			case 1:
				secs = int64(v)
			case 2:
				nanos = int64(v)
			}
			ts = ts[k+j:]
		}
		at = time.Unix(secs, nanos)
	}
	return at
}

// registerMetrics exports Stats as gauges labelled by subscription:
// hem.pubsub.subscription.backlog, .oldest_unacked_age (seconds) and
// .dead_letters (only for subscriptions with a dead-letter topic).
func (s *Server) registerMetrics(mp metric.MeterProvider) error {
	m := mp.Meter("github.com/hemlabs/hem/internal/devpubsub")
	backlog, err1 := m.Int64ObservableGauge("hem.pubsub.subscription.backlog",
		metric.WithDescription("Unacknowledged messages of a subscription, leased ones included."))
	age, err2 := m.Float64ObservableGauge("hem.pubsub.subscription.oldest_unacked_age", metric.WithUnit("s"),
		metric.WithDescription("Age of a subscription's oldest unacknowledged message."))
	dead, err3 := m.Int64ObservableGauge("hem.pubsub.subscription.dead_letters",
		metric.WithDescription("Messages waiting on the subscriptions of a subscription's dead-letter topic."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("devpubsub: metrics: %w", err)
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, st := range s.Stats() {
			attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("subscription", st.Name)))
			o.ObserveInt64(backlog, int64(st.Backlog), attrs)
			o.ObserveFloat64(age, st.OldestUnacked.Seconds(), attrs)
			if st.HasDeadLetter {
				o.ObserveInt64(dead, int64(st.DeadLetters), attrs)
			}
		}
		return nil
	}, backlog, age, dead)
	if err != nil {
		return fmt.Errorf("devpubsub: metrics: %w", err)
	}
	return nil
}
