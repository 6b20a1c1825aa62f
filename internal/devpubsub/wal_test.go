package devpubsub_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/hemlabs/hem/internal/devpubsub"
)

// startDir starts a server keeping its log in dir; the cleanup closes it
// unless the test crashed it.
func startDir(t *testing.T, dir string, opts ...devpubsub.Option) (*devpubsub.Server, *pubsub.Client) {
	t.Helper()
	return start(t, append([]devpubsub.Option{devpubsub.WithDir(dir)}, opts...)...)
}

// received pulls everything the subscription holds (acking it) and returns
// the ids, with how often each came.
func received(t *testing.T, c *pubsub.Client, sub string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for {
		resp, err := c.SubscriptionAdminClient.Pull(t.Context(), &pubsubpb.PullRequest{
			Subscription: project + "/subscriptions/" + sub, MaxMessages: 1000, ReturnImmediately: true}) //nolint:staticcheck // the fake serves it (service.go)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ReceivedMessages) == 0 {
			return got
		}
		var ackIDs []string
		for _, m := range resp.ReceivedMessages {
			got[m.Message.MessageId]++
			ackIDs = append(ackIDs, m.AckId)
		}
		if err := c.SubscriptionAdminClient.Acknowledge(t.Context(), &pubsubpb.AcknowledgeRequest{
			Subscription: project + "/subscriptions/" + sub, AckIds: ackIDs}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAnsweredPublishSurvivesCrash: publishers run while the server is
// crashed; every publish that was answered is there after the restart, once.
func TestAnsweredPublishSurvivesCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, c := startDir(t, dir)
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/a"}, &pubsubpb.Subscription{Name: project + "/subscriptions/b"})

	var mu sync.Mutex
	var answered []string
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				resp, err := c.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{
					Topic:    project + "/topics/events",
					Messages: []*pubsubpb.PubsubMessage{{Data: fmt.Appendf(nil, "%d-%d", w, i)}, {Data: []byte("x")}},
				})
				if err != nil {
					return
				}
				mu.Lock()
				answered = append(answered, resp.MessageIds...)
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.Crash()
	cancel()
	wg.Wait()
	if len(answered) == 0 {
		t.Fatal("no publish was answered before the crash")
	}

	_, c2 := startDir(t, dir)
	for _, sub := range []string{"a", "b"} {
		got := received(t, c2, sub)
		for _, id := range answered {
			if got[id] != 1 {
				t.Fatalf("%s: answered message %s came %d times after the crash, want once (%d answered)", sub, id, got[id], len(answered))
			}
		}
	}
}

// TestAckedNotRedeliveredAfterCrash: an ack that was answered holds across a
// crash; leased, unacknowledged messages come back.
func TestAckedNotRedeliveredAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, c := startDir(t, dir)
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s"})
	ids := publish(t, c, "events", 100)
	acked := pullAll(t, c, "s", 40, true)
	leased := pullAll(t, c, "s", 10, false)
	srv.Crash()

	_, c2 := startDir(t, dir)
	got := received(t, c2, "s")
	for _, m := range acked {
		if got[m.Message.MessageId] != 0 {
			t.Errorf("acked message %s came back after the crash", m.Message.MessageId)
		}
	}
	for _, m := range leased {
		if got[m.Message.MessageId] != 1 {
			t.Errorf("leased, unacked message %s came %d times after the crash, want once", m.Message.MessageId, got[m.Message.MessageId])
		}
	}
	if len(got) != len(ids)-len(acked) {
		t.Errorf("%d messages after the crash, want %d", len(got), len(ids)-len(acked))
	}
	// Topics and subscriptions came back too.
	publish(t, c2, "events", 1)
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// TestTornTail: a record cut short or damaged at the end of the log (a crash
// during a write) is dropped and cut off; everything before it is kept, and
// the server goes on logging after it.
func TestTornTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)-3] }},
		{"bit flip", func(b []byte) []byte { b[len(b)-2] ^= 0x10; return b }},
		{"garbage after", func(b []byte) []byte { return append(b, 0x55, 0, 0, 0, 1, 2, 3, 4, 5) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			srv, c := startDir(t, dir)
			setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s"})
			publish(t, c, "events", 10)
			srv.Crash()
			files := segments(t, dir)
			last := files[len(files)-1]
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(last, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}

			srv2, c2 := startDir(t, dir)
			want := 9 // the damaged record is the last message
			if tc.name == "garbage after" {
				want = 10
			}
			got := received(t, c2, "s")
			if len(got) != want {
				t.Fatalf("%d messages after recovery, want %d", len(got), want)
			}
			// The server logs on after the cut: a message published now
			// survives the next crash, and recovery finds no bad record.
			after := publish(t, c2, "events", 1)
			srv2.Crash()
			_, c3 := startDir(t, dir)
			got = received(t, c3, "s")
			for id := range after {
				if got[id] != 1 || len(got) != 1 {
					t.Fatalf("after a second restart got %v, want only %s", got, id)
				}
			}
		})
	}
}

// TestDamageBeforeTheTailRefusesToStart: a bad record in a segment that is
// not the last is not a torn write; recovery stops with an error instead of
// dropping what the later segments hold.
func TestDamageBeforeTheTailRefusesToStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, c := startDir(t, dir, devpubsub.WithSegmentBytes(512))
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s"})
	publish(t, c, "events", 50)
	srv.Crash()
	files := segments(t, dir)
	if len(files) < 2 {
		t.Fatalf("%d segments, want several", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 0x10
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := devpubsub.New(devpubsub.WithDir(dir)); err == nil {
		t.Fatal("New recovered from a damaged segment before the tail, want an error")
	}
}

// TestLogReclaimsSpace: acknowledged segments are deleted, and a message
// nobody acknowledges does not keep the log growing; it survives the
// compaction and a crash.
func TestLogReclaimsSpace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const segBytes = 4 << 10
	srv, c := startDir(t, dir, devpubsub.WithSegmentBytes(segBytes))
	// The lease must outlast the test: on a busy machine the loop below
	// took 17 s, the default deadline (10 s) passed, and received() acked
	// the stuck message.
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s", AckDeadlineSeconds: 600})
	stuck := publish(t, c, "events", 1)
	pullAll(t, c, "s", 1, false) // leased, never acked
	maxFiles := 0
	for range 40 {
		publish(t, c, "events", 50)
		received(t, c, "s")
		maxFiles = max(maxFiles, len(segments(t, dir)))
	}
	// 2000 messages of ~100 bytes are ~50 segments of 4 KiB.
	if maxFiles > 15 {
		t.Errorf("the log grew to %d segments with one message unacknowledged", maxFiles)
	}
	srv.Crash()
	_, c2 := startDir(t, dir, devpubsub.WithSegmentBytes(segBytes))
	got := received(t, c2, "s")
	for id := range stuck {
		if len(got) != 1 || got[id] != 1 {
			t.Fatalf("after the crash got %v, want only the unacknowledged %s", got, id)
		}
	}
}

// TestImportStateFileMissing: a first start with no earlier state file
// just starts empty.
func TestImportStateFileMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, c := startDir(t, filepath.Join(dir, "pubsub"), devpubsub.WithImportStateFile(filepath.Join(dir, "pubsub.state")))
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s"})
}

// TestRecordsAcrossBlocksSurviveCrash: a batch of records larger than the
// log's buffers, some larger than one buffer, and spanning segments, comes
// back byte for byte after a crash.
func TestRecordsAcrossBlocksSurviveCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const segBytes = 512 << 10
	srv, c := startDir(t, dir, devpubsub.WithSegmentBytes(segBytes))
	setup(t, c, "events", &pubsubpb.Subscription{Name: project + "/subscriptions/s"})
	var msgs []*pubsubpb.PubsubMessage
	for i, size := range []int{100, 200 << 10, 100, 300 << 10, 1 << 20, 7, 255 << 10, 100, 3 << 20, 1} {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i + j)
		}
		msgs = append(msgs, &pubsubpb.PubsubMessage{Data: data})
	}
	for range 50 {
		msgs = append(msgs, &pubsubpb.PubsubMessage{Data: make([]byte, 10<<10)})
	}
	resp, err := c.TopicAdminClient.Publish(t.Context(), &pubsubpb.PublishRequest{Topic: project + "/topics/events", Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	srv.Crash()

	_, c2 := startDir(t, dir, devpubsub.WithSegmentBytes(segBytes))
	got := map[string][]byte{}
	for len(got) < len(msgs) {
		pulled := pullAll(t, c2, "s", 1, true)
		if len(pulled) == 0 {
			break
		}
		for _, m := range pulled {
			got[m.Message.MessageId] = m.Message.Data
		}
	}
	for i, id := range resp.MessageIds {
		if !bytes.Equal(got[id], msgs[i].Data) {
			t.Errorf("message %d (%d bytes) came back as %d bytes after the crash, want the same bytes", i, len(msgs[i].Data), len(got[id]))
		}
	}
}
