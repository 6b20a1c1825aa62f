package envelope_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

func TestOriginOfReadsWhatLineageWrote(t *testing.T) {
	long := "gs://hem-landing/" + strings.Repeat("a", 1100)
	for _, tc := range []struct {
		name string
		in   *eventv1.Origin
		want *eventv1.Origin
	}{
		{"a line of a file",
			&eventv1.Origin{Source: "catalogue", Uri: "gs://b/products/2026-12-01.csv.gz", Generation: 1765000000000001, Line: 42},
			&eventv1.Origin{Source: "catalogue", Uri: "gs://b/products/2026-12-01.csv.gz", Generation: 1765000000000001, Line: 42}},
		{"an entry of an archive",
			&eventv1.Origin{Source: "stock", Uri: "file:///in/stock.zip", Entry: "counts/a.ndjson", Line: 7},
			&eventv1.Origin{Source: "stock", Uri: "file:///in/stock.zip", Entry: "counts/a.ndjson", Line: 7}},
		{"a whole file, no line; the record text is not an attribute",
			&eventv1.Origin{Source: "catalogue", Uri: "gs://b/x.csv", Generation: 3, Record: "a;b;c"},
			&eventv1.Origin{Source: "catalogue", Uri: "gs://b/x.csv", Generation: 3}},
		{"a name longer than an attribute value takes comes back cut",
			&eventv1.Origin{Source: "catalogue", Uri: long},
			&eventv1.Origin{Source: "catalogue", Uri: long[:1024]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := envelope.OriginOf(envelope.Lineage(map[string]string{"region": "eu"}, tc.in))
			if !proto.Equal(got, tc.want) {
				t.Fatalf("OriginOf(Lineage(%v)) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	if o := envelope.OriginOf(map[string]string{"region": "eu", envelope.AttrEventID: "e-1"}); o != nil {
		t.Fatalf("an event no file source read has origin %v", o)
	}
}
