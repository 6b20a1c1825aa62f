// Package layerstest holds the fixtures the layers' tests share: a
// contract in two versions, events of both, and an archive and a DuckDB
// warehouse holding them.
package layerstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
	"github.com/hemlabs/hem/sink/duckdb"
)

// Two versions of one contract: v2 adds a field, so its table is wider.
const (
	ProtoV1 = `syntax = "proto3";
package lay.v1;
import "hem/options/v1/options.proto";
message Sale {
  option (hem.options.v1.event) = {partition_expiration_days: 90};
  string store = 1;
  int64 cents = 2;
}
`
	ProtoV2 = `syntax = "proto3";
package lay.v1;
import "hem/options/v1/options.proto";
message Sale {
  option (hem.options.v1.event) = {partition_expiration_days: 90};
  string store = 1;
  int64 cents = 2;
  string note = 3;
}
`
	Subject = "lay.v1.Sale"
	Table   = "lay_v1_sale"
)

// Schema compiles src (ProtoV1 or ProtoV2) as the given registry id and
// version.
func Schema(t testing.TB, src string, id int64, version int) *contract.Schema {
	t.Helper()
	c, err := contract.CompileSources(t.Context(), map[string]string{"lay/v1/sale.proto": src})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Schema(Subject)
	if err != nil {
		t.Fatal(err)
	}
	return s.WithIdentity(id, version, contract.Usable, time.Time{})
}

// Sales makes n events a quarter hour apart from start, the first half of
// version 1 and the rest of version 2.
func Sales(t testing.TB, n int, start time.Time) []*sink.Event {
	return SalesEvery(t, n, start, 15*time.Minute)
}

// SalesEvery is Sales at another step.
func SalesEvery(t testing.TB, n int, start time.Time, step time.Duration) []*sink.Event {
	t.Helper()
	v1, v2 := Schema(t, ProtoV1, 1, 1), Schema(t, ProtoV2, 2, 2)
	out := make([]*sink.Event, n)
	for i := range out {
		s := v1
		if i >= n/2 {
			s = v2
		}
		m := s.NewMessage()
		f := m.Descriptor().Fields()
		m.Set(f.ByName("store"), protoreflect.ValueOfString(fmt.Sprintf("store-%d", i%3)))
		m.Set(f.ByName("cents"), protoreflect.ValueOfInt64(int64(100+i)))
		if note := f.ByName("note"); note != nil {
			m.Set(note, protoreflect.ValueOfString("v2"))
		}
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		at := start.Add(time.Duration(i) * step)
		out[i] = &sink.Event{ID: fmt.Sprintf("sale-%04d", i), Schema: s, Payload: data, Message: m,
			EventTime: at, ReceivedAt: at, PublishedAt: at, Producer: "test"}
	}
	return out
}

// ArchiveOf writes events to a fresh local GCS archive, some of them twice
// (a second writer, as processors side by side do).
func ArchiveOf(t testing.TB, events []*sink.Event, twice int) (*storage.Client, *archive.Reader) {
	t.Helper()
	gcs := localgcstest.Client(t, "archive")
	a, err := archive.New(gcs, "archive", archive.WithWriterID("w1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write(t.Context(), &sink.Batch{Subject: Subject, Events: events}); err != nil {
		t.Fatal(err)
	}
	// Its window off: a writer side by side sees none of the first one's objects.
	b, _ := archive.New(gcs, "archive", archive.WithWriterID("w2"), archive.WithDedupWindow(0))
	if err := b.Write(t.Context(), &sink.Batch{Subject: Subject, Events: events[:twice]}); err != nil {
		t.Fatal(err)
	}
	return gcs, archive.NewReader(gcs, "archive", "events/")
}

// WarehouseOf is a DuckDB warehouse in memory holding events.
func WarehouseOf(t testing.TB, events []*sink.Event) *duckdb.Warehouse {
	t.Helper()
	w, err := duckdb.Open(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	if err := w.Write(t.Context(), &sink.Batch{Subject: Subject, Events: events}); err != nil {
		t.Fatal(err)
	}
	return w
}
