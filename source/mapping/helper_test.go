package mapping_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
)

var allDesc = sync.OnceValues(func() (protoreflect.MessageDescriptor, error) {
	b, err := os.ReadFile("testdata/all.proto")
	if err != nil {
		return nil, err
	}
	src, err := contract.CompileSources(context.Background(), map[string]string{"maptest/v1/all.proto": string(b)})
	if err != nil {
		return nil, err
	}
	md, _ := src.Message("maptest.v1.All")
	return md, nil
})

// all returns the descriptor of maptest.v1.All, a message with every kind of field.
func all(tb testing.TB) protoreflect.MessageDescriptor {
	tb.Helper()
	md, err := allDesc()
	if err != nil {
		tb.Fatal(err)
	}
	return md
}

// csvSource declares a CSV source with columns and fields.
func csvSource(columns []string, fields map[string]string) *sourcev1.Source {
	return &sourcev1.Source{
		Name:    "test",
		Subject: "maptest.v1.All",
		Objects: &sourcev1.Objects{Bucket: "hem-landing", Pattern: "*.csv"},
		Format:  &sourcev1.Format{Kind: &sourcev1.Format_Csv{Csv: &sourcev1.Csv{Columns: columns}}},
		Fields:  fields,
	}
}

func jsonSource(columns []string, fields map[string]string) *sourcev1.Source {
	s := csvSource(nil, fields)
	s.Format = &sourcev1.Format{Kind: &sourcev1.Format_Json{Json: &sourcev1.Json{Columns: columns}}}
	return s
}

func mustCompile(tb testing.TB, src *sourcev1.Source, md protoreflect.MessageDescriptor) *mapping.Mapping {
	tb.Helper()
	m, err := mapping.Compile(src, md)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return m
}

// csvRecord is one CSV record with a header of columns.
func csvRecord(header []string, values ...string) read.Record {
	return read.Record{Header: header, Values: values, Line: 2, Raw: []byte(strings.Join(values, ",") + "\n")}
}

// decode checks that payload decodes as md and is the deterministic
// encoding of what it decodes to, and returns the message.
func decode(tb testing.TB, md protoreflect.MessageDescriptor, payload []byte) *dynamicpb.Message {
	tb.Helper()
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(payload, msg); err != nil {
		tb.Fatalf("payload does not decode: %v", err)
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		tb.Fatal(err)
	}
	if string(again) != string(payload) {
		tb.Fatalf("payload is not the deterministic encoding:\n got %x\nwant %x (%v)", payload, again, prototext.Format(msg))
	}
	return msg
}

// text parses the text format of md.
func text(tb testing.TB, md protoreflect.MessageDescriptor, s string) *dynamicpb.Message {
	tb.Helper()
	msg := dynamicpb.NewMessage(md)
	if err := prototext.Unmarshal([]byte(s), msg); err != nil {
		tb.Fatalf("prototext %q: %v", s, err)
	}
	return msg
}
