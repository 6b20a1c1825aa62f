package devpubsub

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// BenchmarkServerPublishAck is the server's side of hem dev's load without
// gRPC: concurrent publishers of collector-sized requests (hem envelopes)
// to a topic with two subscriptions, each drained by a puller that acks
// what it gets, as the warehouse and archive processors do. With the log,
// every publish and ack waits for its fsync. The time and cpu-ns/msg (the
// process's user+system CPU per message) run until every message is
// acknowledged on both subscriptions.
func BenchmarkServerPublishAck(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkServerPublishAck(b) })
	b.Run("wal", func(b *testing.B) { benchmarkServerPublishAck(b, WithDir(b.TempDir())) })
}

func benchmarkServerPublishAck(b *testing.B, opts ...Option) {
	s, err := New(append(opts, WithMaxBacklogBytes(1<<30))...)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	pub, sub := publisher{s}, subscriber{s: s}
	const topicName = "projects/p/topics/events"
	if _, err := pub.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName}); err != nil {
		b.Fatal(err)
	}
	subs := []string{"projects/p/subscriptions/warehouse", "projects/p/subscriptions/archive"}
	for _, name := range subs {
		if _, err := sub.CreateSubscription(ctx, &pubsubpb.Subscription{Name: name, Topic: topicName}); err != nil {
			b.Fatal(err)
		}
	}
	const perRequest = 50
	req := publishRequest(topicName, perRequest)

	pullCtx, stopPulls := context.WithCancel(ctx)
	var pullers sync.WaitGroup
	for _, name := range subs {
		pullers.Go(func() {
			for pullCtx.Err() == nil {
				resp, err := sub.Pull(pullCtx, &pubsubpb.PullRequest{Subscription: name, MaxMessages: 1000})
				if err != nil || len(resp.ReceivedMessages) == 0 {
					continue
				}
				ids := make([]string, len(resp.ReceivedMessages))
				for i, m := range resp.ReceivedMessages {
					ids[i] = m.AckId
				}
				if _, err := sub.Acknowledge(pullCtx, &pubsubpb.AcknowledgeRequest{Subscription: name, AckIds: ids}); err != nil && pullCtx.Err() == nil {
					b.Error(err)
				}
			}
		})
	}

	b.ReportAllocs()
	b.SetParallelism(8) // 16 publishers on 2 CPUs, as the collector's
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := pub.publishRaw(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	// The work includes delivering and acknowledging every message.
	for _, name := range subs {
		for n, _ := s.Backlog(name); n > 0; n, _ = s.Backlog(name) {
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	stopPulls()
	pullers.Wait()
	msgs := float64(b.N * perRequest)
	b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/msgs, "cpu-ns/msg")
}

// publishRequest is an encoded PublishRequest of n messages shaped like
// hem's event envelopes.
func publishRequest(topic string, n int) []byte {
	req := &pubsubpb.PublishRequest{Topic: topic}
	for i := range n {
		req.Messages = append(req.Messages, &pubsubpb.PubsubMessage{Data: make([]byte, 300), Attributes: map[string]string{
			"hem-event-id": fmt.Sprintf("01JD3ZB5%018d", i), "hem-type": "shop.orders.v1.OrderPlaced", "hem-schema-id": "1",
			"hem-event-time": "2026-12-01T13:00:00.123456789Z", "hem-received-at": "2026-12-01T13:00:00.223456789Z",
			"hem-producer": "loadgen", "hem-entity-key": "VAN-042",
		}})
	}
	b, err := proto.Marshal(req)
	if err != nil {
		panic(err)
	}
	return b
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendRecord is the encoding of one message record into the
// log's buffer, CRC included.
func BenchmarkAppendRecord(b *testing.B) {
	raw := protowire.AppendBytes(nil, make([]byte, 600))
	r := record{typ: recMsg, a: 123456789, list: []uint64{1, 2}, data: raw}
	buf := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if len(buf) > 1<<20-1024 {
			buf = buf[:0]
		}
		buf = appendRecord(buf, r)
	}
}
