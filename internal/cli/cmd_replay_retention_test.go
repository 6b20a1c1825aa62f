package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
)

// Replaying events older than the table's 90 days would write them into
// partitions BigQuery has deleted: replay refuses with their count and
// points at restore; --skip-expired replays the newer ones.
func TestReplayRefusesEventsOlderThanRetention(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env := startRegistry(t)
	dir := contracts(t, t.TempDir(), "", retention(keepQuarter)...)
	if out, errOut, code := run(t, env, "schema", "push", dir); code != 0 {
		t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
	}
	rc, err := registry.Dial(ctx, env["HEM_REGISTRY"])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	s, err := rc.Latest(ctx, "acme.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}

	gcs, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	client, err := gcs.NewClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := localgcs.EnsureBucket(ctx, client, "archive"); err != nil {
		t.Fatal(err)
	}
	a, err := archive.New(client, "archive")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var events []*sink.Event
	for i, age := range []time.Duration{100 * 24 * time.Hour, 100*24*time.Hour + time.Hour, 95 * 24 * time.Hour, 24 * time.Hour, time.Hour} {
		m := s.NewMessage()
		m.Set(m.Descriptor().Fields().ByName("order_id"), protoreflect.ValueOfString(fmt.Sprintf("o-%d", i)))
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		at := now.Add(-age)
		events = append(events, &sink.Event{ID: fmt.Sprintf("e-%d", i), Schema: s, Payload: data, Message: m, EventTime: at, ReceivedAt: at, PublishedAt: at})
	}
	if err := a.Write(ctx, &sink.Batch{Subject: s.Subject, Events: events}); err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(cli.DevInfo{Registry: env["HEM_REGISTRY"], GCS: gcs.Addr(), Bucket: "archive"})
	if err := os.WriteFile(filepath.Join(env["HEM_DIR"], "dev.json"), info, 0o600); err != nil {
		t.Fatal(err)
	}

	warehouse := filepath.Join(t.TempDir(), "copy.duckdb")
	replay := []string{"replay", "--type", s.Subject, "--since", "2880h", "--to", "duckdb", "--warehouse", warehouse}
	out, errOut, code := run(t, env, replay...)
	if code == 0 || !strings.Contains(errOut, "replay: 3 events of acme.orders.v1.OrderPlaced have an event time before") ||
		!strings.Contains(errOut, "keeps 90 days") || !strings.Contains(errOut, "hem restore --type acme.orders.v1.OrderPlaced --since ") ||
		!strings.Contains(errOut, "nothing was sent") {
		t.Fatalf("expired events: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(warehouse); err == nil {
		t.Error("the refused replay created the warehouse")
	}

	out, errOut, code = run(t, env, append(replay, "--skip-expired")...)
	if code != 0 || !strings.Contains(out, "2 events of acme.orders.v1.OrderPlaced") || !strings.Contains(out, "2 sent to duckdb") ||
		!strings.Contains(out, "replay: 3 older events left out") {
		t.Fatalf("--skip-expired: exit %d\n%s%s", code, out, errOut)
	}
}
