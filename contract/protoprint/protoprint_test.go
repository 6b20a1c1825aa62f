package protoprint_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/contract/protoprint"
)

// Printing every file of hem's own proto tree and compiling the output must
// give the same descriptors and the same fingerprints (comments included).
func TestPrintedSourceCompilesToTheSameDescriptors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, err := contract.CompileDir(ctx, "../../proto")
	if err != nil {
		t.Fatal(err)
	}
	printed := map[string]string{}
	for _, f := range src.Files() {
		printed[f.Path()] = protoprint.File(f, nil)
	}
	again, err := contract.CompileSources(ctx, printed)
	if err != nil {
		t.Fatalf("printed source does not compile: %v\n%s", err, printed["shop/orders/v1/events.proto"])
	}
	byPath := map[string]protoreflect.FileDescriptor{}
	for _, f := range again.Files() {
		byPath[f.Path()] = f
	}
	for _, f := range src.Files() {
		t.Run(f.Path(), func(t *testing.T) {
			want, got := protodesc.ToFileDescriptorProto(f), protodesc.ToFileDescriptorProto(byPath[f.Path()])
			want.SourceCodeInfo, got.SourceCodeInfo = nil, nil
			if !sameBytes(want, got) {
				t.Errorf("descriptors differ after printing:\n%s", printed[f.Path()])
			}
		})
	}
	events, err := src.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		s, err := again.Schema(e.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if s.Fingerprint() != e.Fingerprint() {
			t.Errorf("%s: fingerprint changed by printing (comments or options lost)", e.Subject)
		}
	}
}

func TestPrintsProto2AndEditionsFeatures(t *testing.T) {
	t.Parallel()
	sources := map[string]string{
		"p2.proto": `syntax = "proto2";

package x.v1;

// Detached.

// Leading.
message A {
  optional int32 a = 1 [default = -5];
  required string b = 2 [default = "q\"x\n"];
  repeated int64 c = 3 [packed = true];
  optional E e = 4 [default = E_TWO];
  optional string d = 5 [json_name = "dee", deprecated = true];
  optional double f = 6 [default = inf];
  extensions 100 to max;
  reserved 10, 12 to 14;
  reserved "old";
  enum E {
    E_ONE = 1;
    E_TWO = 2; // two
  }
  map<string, A> m = 7;
}

extend A {
  optional bool flag = 100;
}
`,
		"ed.proto": `edition = "2023";

package y.v1;

option features.field_presence = IMPLICIT;

message B {
  int32 n = 1 [features.field_presence = EXPLICIT];
  reserved old_name;
}
`,
	}
	src, err := contract.CompileSources(context.Background(), sources)
	if err != nil {
		t.Fatal(err)
	}
	printed := map[string]string{}
	for _, f := range src.Files() {
		printed[f.Path()] = protoprint.File(f, nil)
	}
	again, err := contract.CompileSources(context.Background(), printed)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, printed["p2.proto"], printed["ed.proto"])
	}
	for i, f := range src.Files() {
		want, got := protodesc.ToFileDescriptorProto(f), protodesc.ToFileDescriptorProto(again.Files()[i])
		want.SourceCodeInfo, got.SourceCodeInfo = nil, nil
		if !sameBytes(want, got) {
			t.Errorf("%s differs after printing:\n%s", f.Path(), printed[f.Path()])
		}
	}
	for _, want := range []string{"// Detached.", "// Leading.", "E_TWO = 2; // two", `json_name = "dee"`} {
		if !strings.Contains(printed["p2.proto"], want) {
			t.Errorf("output lacks %q:\n%s", want, printed["p2.proto"])
		}
	}
}

// sameBytes compares deterministic encodings: proto.Equal tells apart two
// dynamic extension types of the same option, which print identically.
func sameBytes(a, b proto.Message) bool {
	ab, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	if err != nil {
		return false
	}
	bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	return err == nil && bytes.Equal(ab, bb)
}
