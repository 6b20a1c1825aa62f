package codec

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// pathElem is a lazily formatted field path (items[0].unit_price), built on
// the stack and only turned into a string when something is wrong.
type pathElem struct {
	parent *pathElem
	name   protoreflect.Name
	index  int // list index, or -1
	key    string
	hasKey bool
}

func (p *pathElem) String() string {
	if p == nil {
		return ""
	}
	var parts []*pathElem
	for e := p; e != nil; e = e.parent {
		parts = append(parts, e)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		e := parts[i]
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(string(e.name))
		switch {
		case e.hasKey:
			b.WriteString("[" + strconv.Quote(e.key) + "]")
		case e.index >= 0:
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		}
	}
	return b.String()
}

// Descriptor is the message type c encodes.
func (c *Codec) Descriptor() protoreflect.MessageDescriptor { return c.md }

// PIIAlong reports whether the field path nums (field numbers from c's
// message down) runs through or ends at a field with PII handling.
func (c *Codec) PIIAlong(nums []protowire.Number) bool {
	for _, num := range nums {
		if c == nil {
			return false
		}
		i := c.position(num)
		if i < 0 {
			return false
		}
		f := &c.fields[i]
		if f.pii != piiNone {
			return true
		}
		c = f.child
		if f.valMsg != nil {
			c = f.valMsg
		}
	}
	return false
}

// KeyField is a singular scalar field of a Codec's message at its top
// level: what an entity key is read from.
type KeyField struct{ f *fieldCodec }

// KeyField returns c's singular scalar field called name, ok false when
// there is none.
func (c *Codec) KeyField(name string) (KeyField, bool) {
	for i := range c.fields {
		f := &c.fields[i]
		if string(f.fd.Name()) == name && !f.fd.IsList() && f.mapKey == nil && f.child == nil {
			return KeyField{f}, true
		}
	}
	return KeyField{}, false
}

// Of is the field's value in m after PII handling (a hashed key stays
// hashed), formatted as text (an enum by its name), cloned out of m's
// memory; "" when it is unset or dropped.
func (k KeyField) Of(m protoreflect.Message, e *Encoder) string {
	f := k.f
	if f.pii == piiDrop || !m.Has(f.fd) {
		return ""
	}
	v := e.transform(f.fd.Kind(), m.Get(f.fd), f)
	switch f.fd.Kind() {
	case protoreflect.StringKind:
		return strings.Clone(v.String())
	case protoreflect.BytesKind:
		return string(v.Bytes())
	case protoreflect.EnumKind:
		if ev := f.fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	}
	return v.String()
}

// AppendPIIValues appends to out the values in m of c's PII fields, at any
// depth (every value under a PII message field), as text of at least
// minLen bytes, cloned out of m's memory. Bools and enums are left out.
func (c *Codec) AppendPIIValues(out []string, m protoreflect.Message, minLen int) []string {
	collectPII(m, c, false, minLen, &out)
	return out
}

func collectPII(m protoreflect.Message, c *Codec, all bool, minLen int, out *[]string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		pii, child := all, (*Codec)(nil)
		if c != nil {
			if i := c.position(fd.Number()); i >= 0 {
				f := &c.fields[i]
				pii = pii || f.pii != piiNone
				child = f.child
				if f.valMsg != nil {
					child = f.valMsg
				}
			}
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				addPII(fd, l.Get(i), child, pii, minLen, out)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if pii {
					addPII(fd.MapKey(), k.Value(), nil, true, minLen, out)
				}
				addPII(fd.MapValue(), mv, child, pii, minLen, out)
				return true
			})
		default:
			addPII(fd, v, child, pii, minLen, out)
		}
		return true
	})
}

func addPII(fd protoreflect.FieldDescriptor, v protoreflect.Value, child *Codec, pii bool, minLen int, out *[]string) {
	var s string
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		collectPII(v.Message(), child, pii, minLen, out)
		return
	case protoreflect.BoolKind, protoreflect.EnumKind:
		return
	case protoreflect.BytesKind:
		s = string(v.Bytes())
	default:
		s = v.String()
	}
	if pii && len(s) >= minLen {
		*out = append(*out, strings.Clone(s)) // m may live in an arena
	}
}
