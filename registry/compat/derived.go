package compat

import (
	"sync"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
)

// derived is what the rules need of a version, computed once per version:
// a registry checks each candidate against every earlier version, so the
// earlier versions' mappings and rules are reused across admissions.
type derived struct {
	cols    []contract.Column
	colsErr error
	// rules are the deterministic encodings of the protovalidate rules of
	// each field, message and oneof, by full name; equal bytes, equal rules.
	rules map[protoreflect.FullName]string
	// required marks fields with (buf.validate.field).required.
	required map[protoreflect.FullName]bool
}

// cache holds derived data by subject and fingerprint (a version's
// identity); versions are immutable, so entries never go stale.
var cache sync.Map

func derive(s *contract.Schema) *derived {
	key := s.Subject + "@" + s.Fingerprint()
	if d, ok := cache.Load(key); ok {
		return d.(*derived)
	}
	d := &derived{rules: map[protoreflect.FullName]string{}, required: map[protoreflect.FullName]bool{}}
	keep := func(name protoreflect.FullName, r proto.Message) {
		if b, err := (proto.MarshalOptions{Deterministic: true}).Marshal(r); err == nil && len(b) > 0 {
			d.rules[name] = string(b)
		}
	}
	d.cols, d.colsErr = contract.MapFields(s.Descriptor())
	walkTypes(s.Descriptor(), func(_ string, m protoreflect.MessageDescriptor) {
		if r, err := protovalidate.ResolveMessageRules(m); err == nil && r != nil {
			keep(m.FullName(), r)
		}
		oneofs := m.Oneofs()
		for i := range oneofs.Len() {
			if r, err := protovalidate.ResolveOneofRules(oneofs.Get(i)); err == nil && r != nil {
				keep(oneofs.Get(i).FullName(), r)
			}
		}
		fields := m.Fields()
		for i := range fields.Len() {
			if r, err := protovalidate.ResolveFieldRules(fields.Get(i)); err == nil && r != nil {
				keep(fields.Get(i).FullName(), r)
				d.required[fields.Get(i).FullName()] = r.GetRequired()
			}
		}
	})
	actual, _ := cache.LoadOrStore(key, d)
	return actual.(*derived)
}

// sameRules compares the protovalidate rules of an element in two versions.
func sameRules(p, c *derived, pname, cname protoreflect.FullName) bool {
	return p.rules[pname] == c.rules[cname]
}
