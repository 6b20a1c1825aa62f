package processor

import (
	"google.golang.org/protobuf/reflect/protoreflect"
)

// hasUnknown reports whether m or any message inside it holds fields its
// descriptor does not declare: a payload that does not match its schema id.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				found = hasUnknown(mv.Message())
				return !found
			})
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				if found = hasUnknown(l.Get(i).Message()); found {
					break
				}
			}
		case fd.Message() != nil && !fd.IsMap() && !fd.IsList():
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}
