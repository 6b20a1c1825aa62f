package mapping

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// CompileCEL is Compile with every expression run by its CEL program:
// the reference the native path (native.go) is held to.
func CompileCEL(src *sourcev1.Source, md protoreflect.MessageDescriptor) (*Mapping, error) {
	return compile(src, md, true)
}

// NativeLeaves counts the leaves the native path computes.
func (m *Mapping) NativeLeaves() int {
	n := 0
	for _, l := range m.leaves {
		if l.native != nil {
			n++
		}
	}
	if m.event != nil && m.event.native != nil {
		n++
	}
	return n
}

// NativePaths names the leaves the native path computes.
func (m *Mapping) NativePaths() []string {
	var p []string
	for _, l := range append(m.leaves, m.event) {
		if l != nil && l.native != nil {
			p = append(p, l.path)
		}
	}
	return p
}
