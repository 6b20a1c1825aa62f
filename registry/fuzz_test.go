package registry

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/registry/schema"
)

// FuzzCandidates feeds Register's decoder (descriptor sets arrive from the
// network) arbitrary bytes: it must never panic, and what it accepts must
// be the events that were asked for.
func FuzzCandidates(f *testing.F) {
	src, err := schema.CompileSources(context.Background(), map[string]string{"a/v1/a.proto": `syntax = "proto3";
package a.v1;
import "hem/options/v1/options.proto";
import "google/protobuf/timestamp.proto";
message E {
  option (hem.options.v1.event) = {};
  string id = 1;
  google.protobuf.Timestamp at = 2;
  map<string, E2> m = 3;
}
message E2 { int32 n = 1; }
`})
	if err != nil {
		f.Fatal(err)
	}
	s, err := src.Schema("a.v1.E")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.DescriptorSet(), "")
	f.Add(s.DescriptorSet(), "a.v1.E")
	f.Add(s.DescriptorSet(), "a.v1.E2")
	f.Add(append(s.DescriptorSet(), s.DescriptorSet()...), "")
	half, _ := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{Name: proto.String("x.proto"), Dependency: []string{"missing.proto"}}}})
	f.Add(half, "")
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, "")
	f.Add([]byte("garbage"), "x")
	f.Fuzz(func(t *testing.T, b []byte, subject string) {
		var subjects []string
		if subject != "" {
			subjects = []string{subject}
		}
		out, err := candidatesOf(b, subjects)
		if err != nil {
			return
		}
		for _, c := range out {
			if subject != "" && c.Subject != subject {
				t.Fatalf("asked for %q, got %q", subject, c.Subject)
			}
			if _, ok := schema.EventOptions(c.Descriptor()); !ok {
				t.Fatalf("%s is not an event", c.Subject)
			}
			if _, err := schema.Parse(c.Subject, c.DescriptorSet()); err != nil {
				t.Fatalf("accepted %s does not parse back: %v", c.Subject, err)
			}
		}
	})
}
