package contract

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Types resolves message types by name or type URL for protojson and anypb
// (protojson.UnmarshalOptions.Resolver, anypb.UnmarshalTo's resolver): a
// message of the version's files resolves to a dynamic type of it, any
// other (a well-known type a file does not import) to the type linked into
// the program. Extensions resolve only to linked types: a contract's own
// extensions are not decoded by name. Types is safe for concurrent use.
type Types struct {
	files *protoregistry.Files
	event protoreflect.MessageType
}

var (
	_ protoregistry.MessageTypeResolver   = (*Types)(nil)
	_ protoregistry.ExtensionTypeResolver = (*Types)(nil)
)

// Types resolves the types of the version's files, the event message first
// (its type is built once).
func (s *Schema) Types() *Types { return s.types }

func newTypes(md protoreflect.MessageDescriptor, files *protoregistry.Files) *Types {
	return &Types{files: files, event: dynamicpb.NewMessageType(md)}
}

// FindMessageByName returns the type of the message named name.
func (t *Types) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if name == t.event.Descriptor().FullName() {
		return t.event, nil
	}
	if d, err := t.files.FindDescriptorByName(name); err == nil {
		if md, ok := d.(protoreflect.MessageDescriptor); ok {
			return dynamicpb.NewMessageType(md), nil
		}
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

// FindMessageByURL returns the type of the message a type URL names: the
// part after its last '/'.
func (t *Types) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		url = url[i+1:]
	}
	return t.FindMessageByName(protoreflect.FullName(url))
}

// FindExtensionByName returns a linked extension type.
func (t *Types) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(field)
}

// FindExtensionByNumber returns a linked extension type.
func (t *Types) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(message, field)
}
