package console_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
)

func archiveEvents(t *testing.T, subject string, n int, start time.Time) []*sink.Event {
	t.Helper()
	src, err := contract.CompileDir(t.Context(), "../proto")
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema(subject)
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithIdentity(7, 1, contract.Usable, start)
	out := make([]*sink.Event, n)
	for i := range out {
		out[i] = &sink.Event{ID: fmt.Sprintf("%s-%d", subject, i), Schema: s, Payload: []byte("x"), EventTime: start.Add(time.Duration(i) * time.Minute)}
	}
	return out
}

// The archive as the archive sink writes it, plus an object from before
// objects carried their row count (its footer is read) and objects that
// are not archive partitions (left out).
func TestGCSArchiveDays(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := localgcstest.Client(t, "archive")
	sk, err := archive.New(client, "archive", archive.WithWriterID("w"))
	if err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	const orders, members = "shop.orders.v1.OrderPlaced", "shop.members.v1.MemberRegistered"
	// 23:00–00:29: 60 rows on the 21st, 30 on the 22nd.
	if err := sk.Write(ctx, &sink.Batch{Subject: orders, Events: archiveEvents(t, orders, 90, day1)}); err != nil {
		t.Fatal(err)
	}
	if err := sk.Write(ctx, &sink.Batch{Subject: members, Events: archiveEvents(t, members, 5, day1)}); err != nil {
		t.Fatal(err)
	}
	old, err := archive.Encode(archiveEvents(t, orders, 7, day1.Add(2*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, data []byte) {
		w := client.Bucket("archive").Object(name).NewWriter(ctx)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	put("events/type="+orders+"/dt=2026-11-22/hour=01/old-000001.parquet", old)
	put("events/README", []byte("not a partition"))
	put("events/type="+orders+"/dt=2026-11-22/hour=01/notes.txt", []byte("not parquet"))
	put("failed/type="+orders+"/dt=2026-11-22/hour=01/x.parquet", old)

	a := console.NewArchive(client.Bucket("archive"), "events/")
	days, err := a.Days(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range days {
		if d.Bytes <= 0 {
			t.Errorf("%s %s: %d bytes", d.Type, d.Day, d.Bytes)
		}
		got = append(got, fmt.Sprintf("%s %s %d objects %d rows", d.Type, d.Day, d.Objects, d.Rows))
	}
	want := []string{
		members + " 2026-11-21 1 objects 5 rows",
		orders + " 2026-11-22 2 objects 37 rows", // 30 + the old object's 7
		orders + " 2026-11-21 1 objects 60 rows",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("days:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	ts := archiveConsole(t, a)
	p := get(t, ts, "/ui/archive")
	if p.Status != 200 {
		t.Fatalf("status %d: %s", p.Status, p.text())
	}
	mustContain(t, p, members, "2026-11-22", "37", "97") // 97: the orders' total rows
}

func archiveConsole(t *testing.T, a console.Archive) *httptest.Server {
	t.Helper()
	s, err := console.New(console.Deps{Registry: noRegistry{}, Auth: console.KeyAuth(testKey), Archive: a})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

type failingArchive struct{ err error }

func (f failingArchive) Days(context.Context) ([]console.ArchiveDay, error) { return nil, f.err }

func TestArchivePageStates(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		a      console.Archive
		status int
		want   string
	}{
		{"not configured", nil, 200, "Not configured"},
		{"empty", console.NewArchive(localgcstest.Client(t, "empty").Bucket("empty"), "events/"), 200, "The archive is empty"},
		{"unreachable", failingArchive{context.DeadlineExceeded}, 503, "did not answer in time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := get(t, archiveConsole(t, tt.a), "/ui/archive")
			if p.Status != tt.status {
				t.Errorf("status %d, want %d", p.Status, tt.status)
			}
			mustContain(t, p, tt.want)
		})
	}
}
