package compat_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
	"github.com/hemlabs/hem/registry/compat"
)

// FuzzAdmit mutates the descriptor of a contract (the file that defines the
// event, re-encoded from fuzz-chosen edits) and checks the engine in both
// directions: it must answer, never panic.
//
// The files the contract imports (descriptor.proto, validate.proto, hem's
// options) are resolved once, outside the loop: resolving validate.proto
// again for every input cost more than the engine itself, and held this
// target to a few hundred executions a minute.
func FuzzAdmit(f *testing.F) {
	seed := version(f, base)
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(seed.DescriptorSet(), &fds); err != nil {
		f.Fatal(err)
	}
	seedFile, err := proto.Marshal(fds.File[len(fds.File)-1])
	if err != nil {
		f.Fatal(err)
	}
	// The loop's way to a schema gives the seed's own.
	var fd descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(seedFile, &fd); err != nil {
		f.Fatal(err)
	}
	resolved, err := protodesc.NewFile(&fd, seed.Files())
	if err != nil {
		f.Fatal(err)
	}
	if s, err := contract.FromDescriptor(resolved.Messages().ByName("OrderCreated")); err != nil || s.Fingerprint() != seed.Fingerprint() {
		f.Fatalf("the contract resolved in the loop is not the seed: %v", err)
	}
	f.Add(seedFile)
	f.Add(seedFile[:len(seedFile)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, file []byte) {
		buf := append(append(make([]byte, 0, len(file)+4), file...), 0x0a, 0xff, 0x12, 0x01)
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(buf[:len(file)], &fd); err != nil {
			return
		}
		resolved, err := protodesc.NewFile(&fd, seed.Files())
		if err != nil {
			return
		}
		msgs := resolved.Messages()
		for i := range msgs.Len() {
			if !proto.HasExtension(msgs.Get(i).Options(), optionsv1.E_Event) {
				continue
			}
			s, err := contract.FromDescriptor(msgs.Get(i))
			if err != nil {
				continue
			}
			// compat.Admit is Lint plus Check; seed's Lint never changes.
			_ = compat.Lint(s)
			_ = compat.Check(s, []*contract.Schema{seed})
			_ = compat.Check(seed, []*contract.Schema{s})
			_ = compat.Check(s, []*contract.Schema{s})
		}
	})
}
