package schema

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// EventOptions returns the (hem.options.v1.event) option of md, and whether
// md carries it (that is, whether md is an event type).
func EventOptions(md protoreflect.MessageDescriptor) (*optionsv1.EventOptions, bool) {
	var opts descriptorpb.MessageOptions
	if !typedOptions(md.Options(), &opts) || !proto.HasExtension(&opts, optionsv1.E_Event) {
		return nil, false
	}
	ev, ok := proto.GetExtension(&opts, optionsv1.E_Event).(*optionsv1.EventOptions)
	return ev, ok
}

// FieldOptions returns the (hem.options.v1.field) option of fd, or nil.
func FieldOptions(fd protoreflect.FieldDescriptor) *optionsv1.FieldOptions {
	var opts descriptorpb.FieldOptions
	if !typedOptions(fd.Options(), &opts) || !proto.HasExtension(&opts, optionsv1.E_Field) {
		return nil
	}
	fo, _ := proto.GetExtension(&opts, optionsv1.E_Field).(*optionsv1.FieldOptions)
	return fo
}

// typedOptions copies src into dst through the wire format, so extension
// values become the generated Go types whatever built the descriptor
// (protocompile stores them as dynamic messages, and proto.GetExtension
// panics on those).
func typedOptions(src proto.Message, dst proto.Message) bool {
	if src == nil || !src.ProtoReflect().IsValid() {
		return false
	}
	b, err := proto.Marshal(src)
	if err != nil {
		return false
	}
	return proto.Unmarshal(b, dst) == nil
}
