package contract_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hemlabs/hem/contract"
)

const typesProto = `syntax = "proto3";
package types.v1;
import "google/protobuf/any.proto";
import "hem/options/v1/options.proto";
message Note { string text = 1; }
message Posted {
  option (hem.options.v1.event) = {};
  string id = 1;
  google.protobuf.Any detail = 2;
}
`

func typesSchema(t *testing.T) *contract.Schema {
	t.Helper()
	src, err := contract.CompileSources(t.Context(), map[string]string{"types/v1/types.proto": typesProto})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("types.v1.Posted")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The resolver finds the event, the other messages of its files (inside an
// Any) and the linked well-known types (which the file does not import), as
// protojson and anypb use it.
func TestTypesResolve(t *testing.T) {
	t.Parallel()
	s := typesSchema(t)
	types := s.Types()
	for _, tc := range []struct {
		url  string
		want protoreflect.FullName
		ok   bool
	}{
		{"type.googleapis.com/types.v1.Posted", "types.v1.Posted", true},
		{"types.v1.Note", "types.v1.Note", true},
		{"example.com/x/y/types.v1.Note", "types.v1.Note", true},
		{"type.googleapis.com/google.protobuf.Duration", "google.protobuf.Duration", true},
		{"type.googleapis.com/types.v1.Missing", "", false},
	} {
		mt, err := types.FindMessageByURL(tc.url)
		if (err == nil) != tc.ok {
			t.Fatalf("FindMessageByURL(%q): err = %v, want ok %v", tc.url, err, tc.ok)
		}
		if tc.ok && mt.Descriptor().FullName() != tc.want {
			t.Errorf("FindMessageByURL(%q) = %s, want %s", tc.url, mt.Descriptor().FullName(), tc.want)
		}
	}
	if s.Types() != types {
		t.Error("Types is built again on each call")
	}
	if mt, _ := types.FindMessageByName("types.v1.Posted"); mt.Descriptor() != s.Descriptor() {
		t.Error("the event's type is not of the schema's descriptor")
	}

	// protojson: an event whose Any holds a message of the contract's file.
	msg := s.NewMessage()
	in := `{"id":"e1","detail":{"@type":"type.googleapis.com/types.v1.Note","text":"hello"}}`
	if err := (protojson.UnmarshalOptions{Resolver: types}).Unmarshal([]byte(in), msg); err != nil {
		t.Fatalf("protojson: %v", err)
	}
	out, err := protojson.MarshalOptions{Resolver: types}.Marshal(msg)
	if err != nil {
		t.Fatalf("protojson marshal: %v", err)
	}
	back := s.NewMessage()
	if err := (protojson.UnmarshalOptions{Resolver: types}).Unmarshal(out, back); err != nil || !proto.Equal(msg, back) {
		t.Fatalf("round trip: %v, %s", err, out)
	}

	// anypb: the Any unpacks to the contract's Note.
	detail := msg.Get(s.Descriptor().Fields().ByName("detail")).Message().Interface()
	var a anypb.Any
	b, err := proto.Marshal(detail)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	note, err := anypb.UnmarshalNew(&a, proto.UnmarshalOptions{Resolver: types})
	if err != nil {
		t.Fatalf("anypb: %v", err)
	}
	if got := note.ProtoReflect().Get(note.ProtoReflect().Descriptor().Fields().ByName("text")).String(); got != "hello" {
		t.Errorf("unpacked Note text = %q, want hello", got)
	}
}
