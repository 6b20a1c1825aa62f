package registry

import (
	"bytes"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
)

// Change is one difference between two versions of a subject.
type Change struct {
	// Op is '+' (added), '-' (removed) or '~' (changed).
	Op byte
	// Path is the element's full name, e.g. shop.orders.v1.OrderPlaced.note.
	Path string
	// What describes the element or the change, e.g. "string, field 15".
	What string
}

// String is the change as one line: "+ shop.orders.v1.OrderPlaced.note
// (string, field 15)".
func (c Change) String() string { return fmt.Sprintf("%c %s (%s)", c.Op, c.Path, c.What) }

// Diff lists what changed from one version to another: messages and enums
// reachable from the event, their fields (matched by number) and enum
// values, with types, names, oneofs, options and descriptions (comments).
// It is pure and works on any two schemas, compatible or not.
func Diff(from, to *contract.Schema) []Change {
	a, b := reachableTypes(from.Descriptor()), reachableTypes(to.Descriptor())
	names := map[protoreflect.FullName]bool{}
	for n := range a {
		names[n] = true
	}
	for n := range b {
		names[n] = true
	}
	sorted := make([]protoreflect.FullName, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)
	var out []Change
	for _, n := range sorted {
		da, db := a[n], b[n]
		switch {
		case da == nil:
			out = append(out, Change{'+', string(n), kindOf(db)})
		case db == nil:
			out = append(out, Change{'-', string(n), kindOf(da)})
		default:
			out = append(out, diffType(da, db)...)
		}
	}
	return out
}

func kindOf(d protoreflect.Descriptor) string {
	if _, ok := d.(protoreflect.EnumDescriptor); ok {
		return "enum"
	}
	return "message"
}

func diffType(a, b protoreflect.Descriptor) []Change {
	var out []Change
	if kindOf(a) != kindOf(b) {
		return []Change{{'~', string(a.FullName()), kindOf(a) + " → " + kindOf(b)}}
	}
	out = append(out, diffMeta(string(a.FullName()), a, b)...)
	switch a := a.(type) {
	case protoreflect.MessageDescriptor:
		b := b.(protoreflect.MessageDescriptor)
		af, bf := a.Fields(), b.Fields()
		for i := range af.Len() {
			fa := af.Get(i)
			path := string(a.FullName()) + "." + string(fa.Name())
			fb := bf.ByNumber(fa.Number())
			if fb == nil {
				out = append(out, Change{'-', path, fmt.Sprintf("%s, field %d", fieldType(fa), fa.Number())})
				continue
			}
			if fa.Name() != fb.Name() {
				out = append(out, Change{'~', path, fmt.Sprintf("renamed to %s, field %d", fb.Name(), fa.Number())})
				path = string(b.FullName()) + "." + string(fb.Name())
			}
			if ta, tb := fieldType(fa), fieldType(fb); ta != tb {
				out = append(out, Change{'~', path, ta + " → " + tb})
			}
			if oa, ob := oneofName(fa), oneofName(fb); oa != ob {
				out = append(out, Change{'~', path, fmt.Sprintf("oneof %s → %s", orNone(oa), orNone(ob))})
			}
			if fa.Name() == fb.Name() && fa.JSONName() != fb.JSONName() {
				out = append(out, Change{'~', path, fmt.Sprintf("json name %s → %s", fa.JSONName(), fb.JSONName())})
			}
			out = append(out, diffMeta(path, fa, fb)...)
		}
		for i := range bf.Len() {
			fb := bf.Get(i)
			if af.ByNumber(fb.Number()) == nil {
				out = append(out, Change{'+', string(b.FullName()) + "." + string(fb.Name()), fmt.Sprintf("%s, field %d", fieldType(fb), fb.Number())})
			}
		}
	case protoreflect.EnumDescriptor:
		b := b.(protoreflect.EnumDescriptor)
		av, bv := a.Values(), b.Values()
		for i := range av.Len() {
			va := av.Get(i)
			path := string(a.FullName()) + "." + string(va.Name())
			vb := bv.ByNumber(va.Number())
			switch {
			case vb == nil:
				out = append(out, Change{'-', path, fmt.Sprintf("enum value %d", va.Number())})
			case va.Name() != vb.Name():
				out = append(out, Change{'~', path, fmt.Sprintf("renamed to %s, enum value %d", vb.Name(), va.Number())})
			default:
				out = append(out, diffMeta(path, va, vb)...)
			}
		}
		for i := range bv.Len() {
			vb := bv.Get(i)
			if av.ByNumber(vb.Number()) == nil {
				out = append(out, Change{'+', string(b.FullName()) + "." + string(vb.Name()), fmt.Sprintf("enum value %d", vb.Number())})
			}
		}
	}
	return out
}

// diffMeta compares options (validation rules, deprecation, hem options)
// and comments.
func diffMeta(path string, a, b protoreflect.Descriptor) []Change {
	var out []Change
	if !sameOptions(a.Options(), b.Options()) {
		what := "options changed"
		if deprecated(a) != deprecated(b) {
			what = "deprecated"
			if !deprecated(b) {
				what = "no longer deprecated"
			}
		}
		out = append(out, Change{'~', path, what})
	}
	if comments(a) != comments(b) {
		out = append(out, Change{'~', path, "description changed"})
	}
	return out
}

func sameOptions(a, b proto.Message) bool {
	ab, err1 := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	bb, err2 := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

func deprecated(d protoreflect.Descriptor) bool {
	type dep interface{ GetDeprecated() bool }
	o, ok := d.Options().(dep)
	return ok && o.GetDeprecated()
}

func comments(d protoreflect.Descriptor) string {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	return loc.LeadingComments + "\x00" + loc.TrailingComments
}

func oneofName(fd protoreflect.FieldDescriptor) string {
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		return string(od.Name())
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// fieldType describes a field's type as it is declared: "optional string",
// "repeated shop.orders.v1.LineItem", "map<string, string>".
func fieldType(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return fmt.Sprintf("map<%s, %s>", typeName(fd.MapKey()), typeName(fd.MapValue()))
	}
	var label string
	switch {
	case fd.IsList():
		label = "repeated "
	case fd.Cardinality() == protoreflect.Required:
		label = "required "
	case fd.HasOptionalKeyword():
		label = "optional "
	}
	return label + typeName(fd)
}

func typeName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.Message() != nil:
		return string(fd.Message().FullName())
	case fd.Enum() != nil:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

// reachableTypes maps the full name of md and of every message and enum its
// fields use, transitively, to its descriptor.
func reachableTypes(md protoreflect.MessageDescriptor) map[protoreflect.FullName]protoreflect.Descriptor {
	out := map[protoreflect.FullName]protoreflect.Descriptor{}
	var walk func(protoreflect.MessageDescriptor)
	walk = func(m protoreflect.MessageDescriptor) {
		if _, ok := out[m.FullName()]; ok {
			return
		}
		out[m.FullName()] = m
		fields := m.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if e := fd.Enum(); e != nil {
				out[e.FullName()] = e
			}
			if sub := fd.Message(); sub != nil && !sub.IsMapEntry() {
				walk(sub)
			} else if sub != nil {
				// Map entries are part of the field; their value types count.
				if v := sub.Fields().ByNumber(2); v != nil {
					if v.Message() != nil {
						walk(v.Message())
					} else if v.Enum() != nil {
						out[v.Enum().FullName()] = v.Enum()
					}
				}
			}
		}
	}
	walk(md)
	return out
}
