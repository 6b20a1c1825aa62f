package devpubsub_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/internal/devpubsub"
)

const project = "projects/p"

func start(t *testing.T, opts ...devpubsub.Option) (*devpubsub.Server, *pubsub.Client) {
	t.Helper()
	srv, err := devpubsub.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, dial(t, srv.Addr())
}

func dial(t *testing.T, addr string) *pubsub.Client {
	t.Helper()
	c, err := pubsub.NewClient(t.Context(), "p",
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func setup(t *testing.T, c *pubsub.Client, topic string, subs ...*pubsubpb.Subscription) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: project + "/topics/" + topic}); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.Topic == "" {
			s.Topic = project + "/topics/" + topic
		}
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
}

func publish(t *testing.T, c *pubsub.Client, topic string, n int) map[string]string {
	t.Helper()
	p := c.Publisher(topic)
	defer p.Stop()
	var results []*pubsub.PublishResult
	for i := range n {
		results = append(results, p.Publish(t.Context(), &pubsub.Message{
			Data:       []byte(fmt.Sprintf("payload-%d", i)),
			Attributes: map[string]string{"seq": fmt.Sprint(i)},
		}))
	}
	ids := map[string]string{}
	for i, r := range results {
		id, err := r.Get(t.Context())
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		ids[id] = fmt.Sprint(i)
	}
	return ids
}

// pullAll pulls until it has want messages (asking for no more than that).
func pullAll(t *testing.T, c *pubsub.Client, sub string, want int, ack bool) []*pubsubpb.ReceivedMessage {
	t.Helper()
	var got []*pubsubpb.ReceivedMessage
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		resp, err := c.SubscriptionAdminClient.Pull(t.Context(), &pubsubpb.PullRequest{Subscription: project + "/subscriptions/" + sub, MaxMessages: int32(min(500, want-len(got)))})
		if err != nil {
			t.Fatal(err)
		}
		var ackIDs []string
		for _, m := range resp.ReceivedMessages {
			ackIDs = append(ackIDs, m.AckId)
		}
		if ack && len(ackIDs) > 0 {
			if err := c.SubscriptionAdminClient.Acknowledge(t.Context(), &pubsubpb.AcknowledgeRequest{Subscription: project + "/subscriptions/" + sub, AckIds: ackIDs}); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, resp.ReceivedMessages...)
	}
	return got
}

func TestPublishPullAck(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/a"}, &pubsubpb.Subscription{Name: project + "/subscriptions/b"})
	ids := publish(t, c, "events", 300)

	for _, sub := range []string{"a", "b"} {
		got := pullAll(t, c, sub, 300, true)
		if len(got) != 300 {
			t.Fatalf("%s: pulled %d messages, want 300", sub, len(got))
		}
		for _, m := range got {
			seq, ok := ids[m.Message.MessageId]
			if !ok || m.Message.Attributes["seq"] != seq || string(m.Message.Data) != "payload-"+seq {
				t.Fatalf("%s: message %s arrived as %q %v", sub, m.Message.MessageId, m.Message.Data, m.Message.Attributes)
			}
			if m.Message.PublishTime == nil {
				t.Fatalf("%s: message %s has no publish time", sub, m.Message.MessageId)
			}
		}
		if n, _ := srv.Backlog(sub); n != 0 {
			t.Fatalf("%s: backlog %d after acking everything", sub, n)
		}
	}
}

func TestNackAndExpiryRedeliver(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv, c := start(t, devpubsub.WithClock(clock))
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s", AckDeadlineSeconds: 10})
	publish(t, c, "events", 2)

	first := pullAll(t, c, "s", 2, false)
	if len(first) != 2 {
		t.Fatalf("pulled %d, want 2", len(first))
	}
	// Nack the first: it comes back at once, with a new ack id.
	if err := c.SubscriptionAdminClient.ModifyAckDeadline(t.Context(), &pubsubpb.ModifyAckDeadlineRequest{
		Subscription: project + "/subscriptions/s", AckIds: []string{first[0].AckId}, AckDeadlineSeconds: 0}); err != nil {
		t.Fatal(err)
	}
	again := pullAll(t, c, "s", 1, false)
	if len(again) != 1 || again[0].Message.MessageId != first[0].Message.MessageId || again[0].AckId == first[0].AckId {
		t.Fatalf("after nack got %v, want message %s with a new ack id", again, first[0].Message.MessageId)
	}
	// Let the second lease expire: it is redelivered too.
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	expired := pullAll(t, c, "s", 2, true) // the nacked one also expired by now
	if len(expired) != 2 {
		t.Fatalf("after expiry pulled %d, want both messages again", len(expired))
	}
	// A stale ack id does nothing; the current ones emptied the backlog.
	if n, _ := srv.Backlog("s"); n != 0 {
		t.Fatalf("backlog %d, want 0", n)
	}
}

func TestStreamingReceive(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s"})
	ids := publish(t, c, "events", 2000)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]bool{}
	sub := c.Subscriber("s")
	err := sub.Receive(ctx, func(_ context.Context, m *pubsub.Message) {
		mu.Lock()
		seen[m.ID] = true
		if len(seen) == len(ids) {
			cancel()
		}
		mu.Unlock()
		m.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(ids) {
		t.Fatalf("received %d distinct messages, want %d", len(seen), len(ids))
	}
	waitBacklog(t, srv, "s", 0)
}

func waitBacklog(t *testing.T, srv *devpubsub.Server, sub string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := srv.Backlog(sub)
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog of %s is %d, want %d", sub, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRestartKeepsBacklog(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	srv, c := start(t, devpubsub.WithDir(state))
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s"})
	ids := publish(t, c, "events", 100)
	acked := pullAll(t, c, "s", 40, true)   // ack some
	leased := pullAll(t, c, "s", 10, false) // lease some, never ack
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	_, c2 := start(t, devpubsub.WithDir(state))
	rest := pullAll(t, c2, "s", 100-len(acked), true)
	got := map[string]bool{}
	for _, m := range rest {
		got[m.Message.MessageId] = true
	}
	for _, m := range acked {
		if got[m.Message.MessageId] {
			t.Fatalf("acked message %s came back after restart", m.Message.MessageId)
		}
	}
	for _, m := range leased {
		if !got[m.Message.MessageId] {
			t.Fatalf("leased, unacked message %s was lost by the restart", m.Message.MessageId)
		}
	}
	if len(got)+len(acked) != len(ids) {
		t.Fatalf("after restart %d + %d acked = %d messages, want %d", len(got), len(acked), len(got)+len(acked), len(ids))
	}
	// Topics and subscriptions survive too: publishing again works.
	publish(t, c2, "events", 1)
}

func TestBacklogBoundRefusesPublish(t *testing.T) {
	t.Parallel()
	_, c := start(t, devpubsub.WithMaxBacklogBytes(10_000))
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s"})
	big := make([]byte, 4000)
	req := &pubsubpb.PublishRequest{Topic: project + "/topics/events", Messages: []*pubsubpb.PubsubMessage{{Data: big}}}
	var err error
	noRetry := gax.WithRetry(func() gax.Retryer { return nil })
	for range 5 {
		if _, err = c.TopicAdminClient.Publish(t.Context(), req, noRetry); err != nil {
			break
		}
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("publishing past the backlog bound: %v, want RESOURCE_EXHAUSTED", err)
	}
	// Consuming makes room again.
	pullAll(t, c, "s", 2, true)
	if _, err := c.TopicAdminClient.Publish(t.Context(), req); err != nil {
		t.Fatalf("publish after the backlog drained: %v", err)
	}
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	setup(t, c, "dlq", &pubsubpb.Subscription{Name: project + "/subscriptions/dlq-sub"})
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s", DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{
		DeadLetterTopic: project + "/topics/dlq", MaxDeliveryAttempts: 2}})
	publish(t, c, "events", 1)
	for attempt := int32(1); attempt <= 2; attempt++ {
		got := pullAll(t, c, "s", 1, false)
		if len(got) != 1 || got[0].DeliveryAttempt != attempt {
			t.Fatalf("delivery %d: got %v", attempt, got)
		}
		if err := c.SubscriptionAdminClient.ModifyAckDeadline(t.Context(), &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: project + "/subscriptions/s", AckIds: []string{got[0].AckId}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.SubscriptionAdminClient.Pull(t.Context(), &pubsubpb.PullRequest{Subscription: project + "/subscriptions/s", MaxMessages: 1, ReturnImmediately: true}) //nolint:staticcheck // the fake serves it (service.go)
	if err != nil || len(resp.ReceivedMessages) != 0 {
		t.Fatalf("third delivery of a twice-nacked message: %v %v, want none", resp, err)
	}
	if got := pullAll(t, c, "dlq-sub", 1, true); len(got) != 1 || string(got[0].Message.Data) != "payload-0" {
		t.Fatalf("dead-letter subscription got %v", got)
	}
}

// BenchmarkPublishPull publishes 1000 messages, pulls and acks them, in
// memory and with the write-ahead log (an fsync for the publish and one for
// the ack: one caller, so no group commit).
func BenchmarkPublishPull(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkPublishPull(b) })
	b.Run("wal", func(b *testing.B) { benchmarkPublishPull(b, devpubsub.WithDir(b.TempDir())) })
}

func benchmarkPublishPull(b *testing.B, opts ...devpubsub.Option) {
	srv, err := devpubsub.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	c, err := pubsub.NewClient(b.Context(), "p", option.WithEndpoint(srv.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := b.Context()
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: project + "/topics/t"}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: project + "/subscriptions/s", Topic: project + "/topics/t"}); err != nil {
		b.Fatal(err)
	}
	msgs := make([]*pubsubpb.PubsubMessage, 1000)
	for i := range msgs {
		// The attributes of a hem event envelope.
		msgs[i] = &pubsubpb.PubsubMessage{Data: make([]byte, 300), Attributes: map[string]string{
			"hem-event-id": fmt.Sprintf("01JD3ZB5%018d", i), "hem-type": "shop.orders.v1.OrderPlaced", "hem-schema-id": "1",
			"hem-event-time": "2026-12-01T13:00:00.123456789Z", "hem-received-at": "2026-12-01T13:00:00.223456789Z",
			"hem-producer": "loadgen", "hem-entity-key": "VAN-042",
		}}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := c.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: project + "/topics/t", Messages: msgs}); err != nil {
			b.Fatal(err)
		}
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: project + "/subscriptions/s", MaxMessages: 1000})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, len(resp.ReceivedMessages))
		for i, m := range resp.ReceivedMessages {
			ids[i] = m.AckId
		}
		if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: project + "/subscriptions/s", AckIds: ids}); err != nil {
			b.Fatal(err)
		}
		n += len(ids)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// TestPublishReplacesIDAndTime: Publish keeps the message's bytes but sets
// its id and publish time, whatever the publisher put there.
func TestPublishReplacesIDAndTime(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/a"})
	before := time.Now().Add(-time.Second)
	resp, err := c.TopicAdminClient.Publish(t.Context(), &pubsubpb.PublishRequest{
		Topic: project + "/topics/events",
		Messages: []*pubsubpb.PubsubMessage{{
			Data:        []byte("x"),
			Attributes:  map[string]string{"k": "v"},
			OrderingKey: "key",
			MessageId:   "forged",
			PublishTime: timestamppb.New(time.Unix(1, 5)),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := pullAll(t, c, "a", 1, true)
	if len(got) != 1 {
		t.Fatalf("pulled %d messages, want 1", len(got))
	}
	m := got[0].Message
	if m.MessageId != resp.MessageIds[0] || m.MessageId == "forged" {
		t.Errorf("message id %q, want %q", m.MessageId, resp.MessageIds[0])
	}
	if at := m.PublishTime.AsTime(); at.Before(before) {
		t.Errorf("publish time %v, want the server's", at)
	}
	if string(m.Data) != "x" || m.Attributes["k"] != "v" || m.OrderingKey != "key" {
		t.Errorf("message arrived as %v", m)
	}
}

// BenchmarkPublishConcurrent: 32 publishers of 100-message requests, as a
// collector's publisher sends them; with the log, the requests that arrive
// during one fsync share the next (group commit). Reports messages/s and
// the median time to an answer.
func BenchmarkPublishConcurrent(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkPublishConcurrent(b) })
	b.Run("wal", func(b *testing.B) { benchmarkPublishConcurrent(b, devpubsub.WithDir(b.TempDir())) })
}

func benchmarkPublishConcurrent(b *testing.B, opts ...devpubsub.Option) {
	srv, err := devpubsub.New(append(opts, devpubsub.WithMaxBacklogBytes(8<<30))...)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	c, err := pubsub.NewClient(b.Context(), "p", option.WithEndpoint(srv.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := b.Context()
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: project + "/topics/t"}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: project + "/subscriptions/s", Topic: project + "/topics/t"}); err != nil {
		b.Fatal(err)
	}
	msgs := make([]*pubsubpb.PubsubMessage, 100)
	for i := range msgs {
		msgs[i] = &pubsubpb.PubsubMessage{Data: make([]byte, 400), Attributes: map[string]string{"hem-event-id": fmt.Sprint(i)}}
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(16) // 32 publishers on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			began := time.Now()
			if _, err := c.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: project + "/topics/t", Messages: msgs}); err != nil {
				b.Error(err)
				return
			}
			d := time.Since(began)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	})
	slices.Sort(lat)
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
