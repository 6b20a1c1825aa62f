package compat

import (
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
)

// genuinePrefixes are the folders whose files every part of hem reads as the
// copies linked into it (the collector's Timestamp handling, protovalidate's
// rules, hem's options): a set may carry them, but only unchanged (EV-L11).
var genuinePrefixes = []string{"google/protobuf/", "buf/validate/", "hem/"}

// lintWellKnown refuses a set whose well-known, protovalidate or hem files
// differ from the ones linked into hem. The registry would store the
// contract, producers would be ACCEPTED, and every event would then fail
// where hem reads it with the real file.
func lintWellKnown(s *contract.Schema) []Violation {
	var out []Violation
	s.Files().RangeFiles(func(f protoreflect.FileDescriptor) bool {
		p := f.Path()
		reserved := false
		for _, prefix := range genuinePrefixes {
			reserved = reserved || strings.HasPrefix(p, prefix)
		}
		linked, err := protoregistry.GlobalFiles.FindFileByPath(p)
		switch {
		case err != nil && reserved:
			out = append(out, Violation{"EV-L11", p, fmt.Sprintf("%s is not a file hem knows; google/protobuf/, buf/validate/ and hem/ hold only the files hem is built with: import another file or move it out of those folders", p)})
		case err == nil && reserved && !proto.Equal(linkedComparable(linked), comparable(f)):
			out = append(out, Violation{"EV-L11", p, fmt.Sprintf("the set's %s differs from the real one hem is built with; hem reads events with the real one, so every event would fail: build the set against the genuine file (hem schema push does)", p)})
		}
		return true
	})
	return out
}

// linkedComparable is comparable of a linked file, built once per file:
// every admission compares descriptor.proto and validate.proto.
func linkedComparable(f protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	if p, ok := linkedCache.Load(f.Path()); ok {
		return p.(*descriptorpb.FileDescriptorProto)
	}
	p, _ := linkedCache.LoadOrStore(f.Path(), comparable(f))
	return p.(*descriptorpb.FileDescriptorProto)
}

var linkedCache sync.Map // path → *descriptorpb.FileDescriptorProto

// comparable is f's descriptor without what does not change how hem reads
// events: source info (comments, positions), whether a JSON name was written
// out or is the default, and the file's code generation options (buf's
// managed mode rewrites go_package, java_package… in generated code, so the
// linked copy of a file compiled from the same source differs there).
// Editions features stay: they change the encoding.
func comparable(f protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	p := protodesc.ToFileDescriptorProto(f)
	p.SourceCodeInfo = nil
	features := p.GetOptions().GetFeatures()
	p.Options = nil
	if features != nil {
		p.Options = &descriptorpb.FileOptions{Features: features}
	}
	jsonNames(p.GetMessageType(), f.Messages())
	setJSONNames(p.GetExtension(), f.Extensions())
	return p
}

func jsonNames(ps []*descriptorpb.DescriptorProto, ms protoreflect.MessageDescriptors) {
	for i, p := range ps {
		if i >= ms.Len() {
			return
		}
		m := ms.Get(i)
		setJSONNames(p.GetField(), m.Fields())
		setJSONNames(p.GetExtension(), m.Extensions())
		jsonNames(p.GetNestedType(), m.Messages())
	}
}

func setJSONNames[L interface {
	Len() int
	Get(int) protoreflect.FieldDescriptor
}](ps []*descriptorpb.FieldDescriptorProto, fs L) {
	for i, p := range ps {
		if i < fs.Len() {
			p.JsonName = proto.String(fs.Get(i).JSONName())
		}
	}
}
