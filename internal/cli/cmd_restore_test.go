package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/duckdb"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

func hemAll(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := hem(t, args...)
	return out + errOut, err
}

// TestArchiveVerifyAndRestore: hem archive verify passes after a clean
// run and exits 1 once an archive object is deleted; hem restore brings a
// range back into a restore table of the DuckDB file.
func TestArchiveVerifyAndRestore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	srv, err := localgcs.Start(filepath.Join(dir, "gcs"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	gcs, err := srv.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := localgcs.EnsureBucket(ctx, gcs, "archive"); err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]string{"gcs": srv.Addr(), "bucket": "archive"})
	if err := os.WriteFile(filepath.Join(dir, "dev.json"), info, 0o600); err != nil {
		t.Fatal(err)
	}

	src, err := contract.CompileDir(ctx, filepath.Join("..", "..", "proto"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("shop.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithIdentity(6, 1, contract.Usable, time.Time{})
	g, _ := sample.NewGenerator(1, []string{s.Subject}, 0)
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	events := make([]*sink.Event, 200) // two days
	for i := range events {
		data, _ := proto.Marshal(g.Next().Message)
		m := s.NewMessage()
		_ = proto.Unmarshal(data, m)
		at := start.Add(time.Duration(i) * 24 * time.Hour / 100)
		events[i] = &sink.Event{ID: fmt.Sprintf("o-%04d", i), Schema: s, Payload: data, Message: m, EventTime: at, ReceivedAt: at, Producer: "test"}
	}
	a, _ := archive.New(gcs, "archive", archive.WithWriterID("w"))
	if err := a.Write(ctx, &sink.Batch{Subject: s.Subject, Events: events}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "w.duckdb")
	w, err := duckdb.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, &sink.Batch{Subject: s.Subject, Events: events}); err != nil {
		t.Fatal(err)
	}
	_ = w.Close(ctx)

	window := []string{"--since", start.Format(time.DateOnly), "--until", start.AddDate(0, 0, 2).Format(time.DateOnly)}
	out, err := hemAll(t, append([]string{"archive", "verify", "--dir", dir, "--warehouse", file}, window...)...)
	if err != nil || !strings.Contains(out, "2 days compared") || !strings.Contains(out, " 0 gaps") {
		t.Fatalf("clean run: %v\n%s", err, out)
	}

	objects, err := archive.NewReader(gcs, "archive", "events/").Objects(ctx, s.Subject, start.Add(25*time.Hour), start.Add(26*time.Hour))
	if err != nil || len(objects) != 1 {
		t.Fatalf("objects %v %v", objects, err)
	}
	if err := gcs.Bucket("archive").Object(objects[0].Name).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	out, err = hemAll(t, append([]string{"archive", "verify", "--dir", dir, "--warehouse", file}, window...)...)
	if code, ok := cli.ExitCode(err); !ok || code != 1 || !strings.Contains(out, "gap: shop.orders.v1.OrderPlaced "+start.AddDate(0, 0, 1).Format(time.DateOnly)) ||
		!strings.Contains(out, `"msg":"archive verify gap"`) || !strings.Contains(out, "not in the archive: o-0105") {
		t.Fatalf("after deleting %s: %v\n%s", objects[0].Name, err, out)
	}

	out, err = hemAll(t, append([]string{"restore", "--dir", dir, "--type", s.Subject, "--warehouse", file, "--expires", "2d"}, window...)...)
	table := fmt.Sprintf("shop_orders_v1_order_placed_restore_%s_%s", start.Format("20060102"), start.AddDate(0, 0, 1).Format("20060102"))
	if err != nil || !strings.Contains(out, "196 events (version 1's shape) loaded into duckdb table "+table) {
		t.Fatalf("restore: %v\n%s", err, out)
	}
}
