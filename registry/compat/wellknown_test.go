package compat_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/wellknownimports"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
	_ "github.com/hemlabs/hem/gen/shop/orders/v1" // links shop/orders/v1/events.proto, as the hem binary does
	"github.com/hemlabs/hem/registry/compat"
)

// edited is base's descriptor set with fn applied to the file at path.
func edited(t *testing.T, path string, fn func(*descriptorpb.FileDescriptorProto)) *contract.Schema {
	t.Helper()
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(version(t, base).DescriptorSet(), &fds); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fds.File {
		if f.GetName() == path {
			fn(f)
			found = true
		}
	}
	if !found {
		t.Fatalf("no %s in the set", path)
	}
	b, err := proto.Marshal(&fds)
	if err != nil {
		t.Fatal(err)
	}
	s, err := contract.Parse(subject, b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func field(f *descriptorpb.FileDescriptorProto, msg, name string) *descriptorpb.FieldDescriptorProto {
	for _, m := range f.GetMessageType() {
		for _, fd := range m.GetField() {
			if m.GetName() == msg && fd.GetName() == name {
				return fd
			}
		}
	}
	return nil
}

// A set that ships its own well-known, protovalidate or hem options file
// with other content is refused, naming the file; the genuine file, however
// it was built, is not.
func TestWellKnownFilesMustBeGenuine(t *testing.T) {
	t.Parallel()
	const ts = "google/protobuf/timestamp.proto"
	cases := []struct {
		name   string
		schema func(t *testing.T) *contract.Schema
		bad    string // the file named, or "" for no EV-L11
	}{
		{"nanos made int64", func(t *testing.T) *contract.Schema {
			return edited(t, ts, func(f *descriptorpb.FileDescriptorProto) {
				field(f, "Timestamp", "nanos").Type = descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum()
			})
		}, ts},
		{"seconds renamed", func(t *testing.T) *contract.Schema {
			return edited(t, ts, func(f *descriptorpb.FileDescriptorProto) {
				field(f, "Timestamp", "seconds").Name = proto.String("secs")
			})
		}, ts},
		{"a field added to hem's options", func(t *testing.T) *contract.Schema {
			return edited(t, "hem/options/v1/options.proto", func(f *descriptorpb.FileDescriptorProto) {
				m := f.GetMessageType()[0]
				m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{Name: proto.String("extra"), Number: proto.Int32(99),
					Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()})
			})
		}, "hem/options/v1/options.proto"},
		{"a rule of validate.proto renamed", func(t *testing.T) *contract.Schema {
			return edited(t, "buf/validate/validate.proto", func(f *descriptorpb.FileDescriptorProto) {
				field(f, "StringRules", "min_len").Name = proto.String("minimum_len")
			})
		}, "buf/validate/validate.proto"},
		{"hem's options with other code generation options", func(t *testing.T) *contract.Schema {
			return edited(t, "hem/options/v1/options.proto", func(f *descriptorpb.FileDescriptorProto) {
				f.Options = &descriptorpb.FileOptions{GoPackage: proto.String("example.com/elsewhere")}
			})
		}, ""},
		{"genuine without JSON names or comments", func(t *testing.T) *contract.Schema {
			return edited(t, ts, func(f *descriptorpb.FileDescriptorProto) {
				for _, fd := range f.GetMessageType()[0].GetField() {
					fd.JsonName = nil
				}
				f.SourceCodeInfo = nil
			})
		}, ""},
		{"genuine, compiled from source", func(t *testing.T) *contract.Schema {
			// timestamp.proto from protocompile's copy of the source, the
			// rest as usual (validate.proto, which imports the linked
			// timestamp.proto, left out).
			wk := wellknownimports.WithStandardImports(&protocompile.SourceResolver{
				Accessor: protocompile.SourceAccessorFromMap(map[string]string{})})
			orders := &protocompile.SourceResolver{
				Accessor: protocompile.SourceAccessorFromMap(map[string]string{"acme/orders/v1/orders.proto": `syntax = "proto3";
package acme.orders.v1;
import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";
message OrderCreated {
  option (hem.options.v1.event) = {};
  google.protobuf.Timestamp at = 1;
}
`})}
			src, err := contract.Compile(context.Background(), protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
				if path == ts {
					return wk.FindFileByPath(path)
				}
				return orders.FindFileByPath(path)
			}), "acme/orders/v1/orders.proto")
			if err != nil {
				t.Fatal(err)
			}
			s, err := src.Schema(subject)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, ""},
		{"a contract hem links (a sample), edited", func(t *testing.T) *contract.Schema {
			// The hem binary links the sample contracts (loadgen emits
			// them); editing one is evolution, not forgery.
			source, err := contract.CompileSources(context.Background(), map[string]string{"shop/orders/v1/events.proto": base})
			if err != nil {
				t.Fatal(err)
			}
			s, err := source.Schema(subject)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, ""},
		{"a file of its own under google/protobuf/", func(t *testing.T) *contract.Schema {
			var mine *descriptorpb.FileDescriptorProto
			s := edited(t, ts, func(f *descriptorpb.FileDescriptorProto) {
				mine = proto.Clone(f).(*descriptorpb.FileDescriptorProto)
			})
			mine.Name = proto.String("google/protobuf/mine.proto")
			mine.Package = proto.String("google.protobuf.mine")
			var fds descriptorpb.FileDescriptorSet
			if err := proto.Unmarshal(s.DescriptorSet(), &fds); err != nil {
				t.Fatal(err)
			}
			fds.File = append([]*descriptorpb.FileDescriptorProto{mine}, fds.File...)
			b, _ := proto.Marshal(&fds)
			s, err := contract.Parse(subject, b)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, "google/protobuf/mine.proto"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := compat.Lint(c.schema(t))
			if c.bad == "" {
				if has(got, "EV-L11", "") {
					t.Fatalf("the genuine file was refused: %v", got)
				}
				return
			}
			if !has(got, "EV-L11", c.bad) {
				t.Fatalf("not reported as EV-L11 at %s: %v", c.bad, got)
			}
			for _, v := range got {
				if v.Rule == "EV-L11" && !strings.Contains(v.Message, c.bad) {
					t.Fatalf("the message does not name the file: %v", v)
				}
			}
		})
	}
}
