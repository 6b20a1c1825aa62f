package registry

// TEMPORARY: a stand-in for registry/compat (being written in parallel) with
// the same API, so the registry builds and its tests run. It checks only
// EV-W04, EV-W06 and EV-J01 on the event message's reachable types. Delete
// this file when registry/compat lands and use compat.Admit/compat.Lint.

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/registry/schema"
)

// Violation is one broken rule: a stable rule id, the element path and a
// sentence a data engineer can act on.
type Violation struct {
	Rule    string
	Path    string
	Message string
}

func lint(*schema.Schema) []Violation { return nil }

func admit(candidate *schema.Schema, prior []*schema.Schema) []Violation {
	var out []Violation
	seen := map[string]bool{}
	for _, p := range prior {
		for _, v := range shimCompare(candidate.Descriptor(), p.Descriptor(), map[protoreflect.FullName]bool{}) {
			k := v.Rule + v.Path + v.Message
			if !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
	}
	return out
}

func shimCompare(c, p protoreflect.MessageDescriptor, done map[protoreflect.FullName]bool) []Violation {
	if done[p.FullName()] {
		return nil
	}
	done[p.FullName()] = true
	var out []Violation
	pf := p.Fields()
	for i := range pf.Len() {
		old := pf.Get(i)
		path := string(p.FullName()) + "." + string(old.Name())
		nf := c.Fields().ByNumber(old.Number())
		switch {
		case nf == nil:
			out = append(out, Violation{"EV-W04", path, fmt.Sprintf("field %s (number %d) was deleted; mark it deprecated instead", old.Name(), old.Number())})
			continue
		case nf.Name() != old.Name():
			out = append(out, Violation{"EV-J01", path, fmt.Sprintf("field number %d was renamed from %s to %s", old.Number(), old.Name(), nf.Name())})
		}
		if shimType(nf) != shimType(old) {
			out = append(out, Violation{"EV-W06", path, fmt.Sprintf("type changed from %s to %s", shimType(old), shimType(nf))})
		} else if old.Message() != nil && nf.Message() != nil {
			out = append(out, shimCompare(nf.Message(), old.Message(), done)...)
		}
	}
	return out
}

func shimType(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.Message() != nil:
		return string(fd.Message().FullName())
	case fd.Enum() != nil:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}
