package registry

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// FuzzCandidates feeds Register's decoder (descriptor sets arrive from the
// network) arbitrary bytes: it must never panic, and what it accepts must
// be the events that were asked for.
//
// The fuzzed bytes follow an encoded set of the files every contract
// imports (descriptor.proto, hem's options): sets concatenate, so the
// decoder sees one set, while the fuzzer mutates only the contract's part.
// Mutating and minimizing the 12 kB of descriptor.proto with it is what kept
// this target at a few executions a minute.
func FuzzCandidates(f *testing.F) {
	support := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto),
		protodesc.ToFileDescriptorProto(optionsv1.File_hem_options_v1_options_proto),
	}}
	prefix, err := proto.Marshal(support)
	if err != nil {
		f.Fatal(err)
	}
	src, err := contract.CompileSources(context.Background(), map[string]string{"a/v1/a.proto": `syntax = "proto3";
package a.v1;
import "hem/options/v1/options.proto";
message E {
  option (hem.options.v1.event) = {};
  string id = 1;
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
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(s.DescriptorSet(), &fds); err != nil {
		f.Fatal(err)
	}
	var seedSet []byte
	for _, fd := range fds.File {
		if fd.GetName() == "a/v1/a.proto" {
			fd.SourceCodeInfo = nil
			seedSet, err = proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fd}})
			if err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Add(seedSet, "")
	f.Add(seedSet, "a.v1.E")
	f.Add(seedSet, "a.v1.E2")
	f.Add(append(append([]byte{}, seedSet...), seedSet...), "")
	half, _ := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{Name: proto.String("x.proto"), Dependency: []string{"missing.proto"}}}})
	f.Add(half, "")
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, "")
	f.Add([]byte("garbage"), "x")
	f.Fuzz(func(t *testing.T, in []byte, subject string) {
		var subjects []string
		if subject != "" {
			subjects = []string{subject}
		}
		// Trailing bytes past the set's end, so a read beyond it shows.
		buf := append(append(append(make([]byte, 0, len(prefix)+len(in)+4), prefix...), in...), 0x0a, 0xff, 0x12, 0x01)
		out, err := candidatesOf(buf[:len(prefix)+len(in)], subjects)
		if err != nil {
			return
		}
		for _, c := range out {
			if subject != "" && c.Subject != subject {
				t.Fatalf("asked for %q, got %q", subject, c.Subject)
			}
			if _, ok := contract.EventOptions(c.Descriptor()); !ok {
				t.Fatalf("%s is not an event", c.Subject)
			}
			if _, err := contract.Parse(c.Subject, c.DescriptorSet()); err != nil {
				t.Fatalf("accepted %s does not parse back: %v", c.Subject, err)
			}
		}
	})
}
