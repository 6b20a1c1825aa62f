package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fingerprint hashes what the subject is made of: the descriptors of every
// message and enum reachable from it, with their comments (they become column
// descriptions) and file-level syntax and package. Other messages of the same
// file are left out, so changing OrderPlaced does not make a new version of
// OrderPicked just because they share a file.
func fingerprint(md protoreflect.MessageDescriptor) string {
	h := sha256.New()
	write := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	for _, d := range reachable(md) {
		f := d.ParentFile()
		write(string(d.FullName()), f.Path(), string(f.Package()), f.Syntax().String())
		var b []byte
		switch d := d.(type) {
		case protoreflect.MessageDescriptor:
			b, _ = proto.MarshalOptions{Deterministic: true}.Marshal(shallow(d))
			fields := d.Fields()
			for i := range fields.Len() {
				write(comments(fields.Get(i)))
			}
		case protoreflect.EnumDescriptor:
			b, _ = proto.MarshalOptions{Deterministic: true}.Marshal(protodesc.ToEnumDescriptorProto(d))
			values := d.Values()
			for i := range values.Len() {
				write(comments(values.Get(i)))
			}
		}
		write(string(b), comments(d))
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum)
}

// shallow is the message's descriptor without nested types: each nested type
// that matters is reachable and hashed on its own.
func shallow(md protoreflect.MessageDescriptor) proto.Message {
	p := protodesc.ToDescriptorProto(md)
	p.NestedType, p.EnumType = nil, nil
	return p
}

func comments(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	return loc.LeadingComments + "\x00" + loc.TrailingComments
}

// reachable lists md and every message and enum its fields use, transitively,
// sorted by full name.
func reachable(md protoreflect.MessageDescriptor) []protoreflect.Descriptor {
	seen := map[protoreflect.FullName]protoreflect.Descriptor{}
	var walk func(protoreflect.MessageDescriptor)
	walk = func(m protoreflect.MessageDescriptor) {
		if _, ok := seen[m.FullName()]; ok {
			return
		}
		seen[m.FullName()] = m
		fields := m.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if e := fd.Enum(); e != nil {
				seen[e.FullName()] = e
			}
			if sub := fd.Message(); sub != nil {
				walk(sub)
			}
		}
	}
	walk(md)
	out := make([]protoreflect.Descriptor, 0, len(seen))
	for _, d := range seen {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b protoreflect.Descriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	return out
}
