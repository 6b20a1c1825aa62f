package contract

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// EventOptions returns the (hem.options.v1.event) option of md, and whether
// md carries it (that is, whether md is an event type).
func EventOptions(md protoreflect.MessageDescriptor) (*optionsv1.EventOptions, bool) {
	if v, found, typed := typedExtension[*optionsv1.EventOptions](md.Options(), optionsv1.E_Event.TypeDescriptor().Number()); typed {
		return v, found
	}
	var opts descriptorpb.MessageOptions
	if !typedOptions(md.Options(), &opts) || !proto.HasExtension(&opts, optionsv1.E_Event) {
		return nil, false
	}
	ev, ok := proto.GetExtension(&opts, optionsv1.E_Event).(*optionsv1.EventOptions)
	return ev, ok
}

// FieldOptions returns the (hem.options.v1.field) option of fd, or nil.
func FieldOptions(fd protoreflect.FieldDescriptor) *optionsv1.FieldOptions {
	if v, _, typed := typedExtension[*optionsv1.FieldOptions](fd.Options(), optionsv1.E_Field.TypeDescriptor().Number()); typed {
		return v
	}
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

// typedExtension reads extension number num of opts when it is already held
// as the generated Go type T (descriptors from a parsed descriptor set): the
// fast path, without the wire round trip. typed is false when the value is
// held in another form (protocompile's dynamic messages) or opts has unknown
// fields that may hold it.
func typedExtension[T proto.Message](opts proto.Message, num protoreflect.FieldNumber) (v T, found, typed bool) {
	if opts == nil {
		return v, false, true
	}
	m := opts.ProtoReflect()
	if !m.IsValid() {
		return v, false, true
	}
	typed = true
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		if fd.Number() != num || !fd.IsExtension() {
			return true
		}
		v, typed = val.Message().Interface().(T)
		found = typed
		return false
	})
	if !found && len(m.GetUnknown()) > 0 {
		typed = false
	}
	return v, found, typed
}
