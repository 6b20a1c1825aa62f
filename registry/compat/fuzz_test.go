package compat_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/registry/compat"
	"github.com/hemlabs/hem/registry/schema"
)

// FuzzAdmit mutates the descriptor of a contract (the file that defines the
// event, re-encoded from fuzz-chosen edits) and checks the engine in both
// directions: it must answer, never panic.
func FuzzAdmit(f *testing.F) {
	seed := version(f, base)
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(seed.DescriptorSet(), &fds); err != nil {
		f.Fatal(err)
	}
	last := len(fds.File) - 1
	contract, err := proto.Marshal(fds.File[last])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(contract)
	f.Add(contract[:len(contract)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, file []byte) {
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(file, &fd); err != nil {
			return
		}
		mutated := proto.Clone(&fds).(*descriptorpb.FileDescriptorSet)
		mutated.File[last] = &fd
		b, err := proto.Marshal(mutated)
		if err != nil {
			return
		}
		for _, m := range fd.GetMessageType() {
			s, err := schema.Parse(fd.GetPackage()+"."+m.GetName(), b)
			if err != nil {
				continue
			}
			_ = compat.Admit(s, []*schema.Schema{seed})
			_ = compat.Admit(seed, []*schema.Schema{s})
			_ = compat.Admit(s, []*schema.Schema{s})
		}
	})
}
