package archive

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
)

// FuzzObjectIDs: whatever an archive object holds, reading its ids and its
// schemas (what verify and restore read first, without the payloads)
// never panics, and reads no more ids than the file says it has rows. The
// object lies in a larger buffer, so a read past its end changes the
// outcome.
func FuzzObjectIDs(f *testing.F) {
	src, err := contract.CompileSources(f.Context(), map[string]string{"fz/v1/e.proto": `syntax = "proto3";
package fz.v1;
import "hem/options/v1/options.proto";
message E {
  option (hem.options.v1.event) = {};
  string id = 1;
}
`})
	if err != nil {
		f.Fatal(err)
	}
	s, err := src.Schema("fz.v1.E")
	if err != nil {
		f.Fatal(err)
	}
	s = s.WithIdentity(3, 1, contract.Usable, time.Time{})
	at := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	var events []*sink.Event
	for i := range 3 {
		m := dynamicpb.NewMessage(s.Descriptor())
		m.Set(s.Descriptor().Fields().ByName("id"), protoreflect.ValueOfString(fmt.Sprintf("id-%d", i)))
		events = append(events, &sink.Event{ID: fmt.Sprintf("e-%d", i), Schema: s, Message: m, EventTime: at})
	}
	obj, err := Encode(events)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(obj)
	f.Add(obj[:len(obj)/2])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := append(append(make([]byte, 0, len(in)+8), in...), 'P', 'A', 'R', '1', 0xff, 0xff, 0xff, 0x7f)
		pf, err := parquet.OpenFile(bytes.NewReader(buf[:len(in):len(in)]), int64(len(in)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			return
		}
		ids, err := stringColumn(pf, contract.ColEventID)
		if err == nil && int64(len(ids)) > pf.NumRows() {
			t.Fatalf("%d ids from a file of %d rows", len(ids), pf.NumRows())
		}
		// The seed's schema is known (rebuilding descriptor.proto for
		// every input costs more than the read); other ids are rebuilt.
		_ = fileSchemas(pf, map[int64]*contract.Schema{s.ID: s})
	})
}
