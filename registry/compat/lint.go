package compat

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
)

var majorSuffix = regexp.MustCompile(`\.v[0-9]+$`)

// allowedImports are the files outside the contracts a contract file may
// import (EV-L08). descriptor.proto is there for hem's and protovalidate's
// options files, which import it; a contract importing it directly is not.
var allowedImports = map[string]bool{
	"google/protobuf/timestamp.proto": true,
	"google/protobuf/duration.proto":  true,
	"google/protobuf/wrappers.proto":  true,
	"google/protobuf/struct.proto":    true,
	"google/type/date.proto":          true,
	"buf/validate/validate.proto":     true,
	"hem/options/v1/options.proto":    true,
}

// supportFiles define options; they are not contracts.
var supportFiles = map[string]bool{
	"buf/validate/validate.proto":      true,
	"hem/options/v1/options.proto":     true,
	"google/protobuf/descriptor.proto": true,
}

// Lint runs the admission rules on one version.
func Lint(s *contract.Schema) []Violation {
	md := s.Descriptor()
	var out []Violation
	add := func(rule, path, format string, args ...any) {
		out = append(out, Violation{Rule: rule, Path: path, Message: fmt.Sprintf(format, args...)})
	}
	subject := string(md.FullName())
	if pkg := string(md.ParentFile().Package()); !majorSuffix.MatchString(pkg) {
		add("EV-L01", subject, "package %s does not end in a major version: name it %s.v1, so a breaking change can become %s.v2", pkg, pkg, pkg)
	}
	// The mapping reports recursion, shape limits, unsupported types, names,
	// case collisions and bad event options with their rule ids.
	if _, err := contract.MapTable(md); err != nil {
		if mes, ok := contract.AsMappingErrors(err); ok {
			for _, me := range mes {
				add(me.Rule, me.Path, "%s", me.Message)
			}
		} else {
			add("EV-L05", subject, "the contract has no table mapping: %v", err)
		}
	}
	walkTypes(md, func(path string, m protoreflect.MessageDescriptor) {
		fields := m.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if fd.Cardinality() == protoreflect.Required {
				add("EV-L02", path+"."+string(fd.Name()), "required fields cannot be added or removed safely and BigQuery cannot add REQUIRED columns: make the field optional and use (buf.validate.field).required = true")
			}
		}
	})
	out = append(out, lintImports(s)...)
	out = append(out, lintWellKnown(s)...)
	out = append(out, lintNames(s)...)
	if err := compileRules(md); err != nil {
		add("EV-L09", subject, "protovalidate rules do not compile: %v", err)
	}
	return out
}

func lintImports(s *contract.Schema) []Violation {
	var out []Violation
	s.Files().RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if supportFiles[f.Path()] || strings.HasPrefix(f.Path(), "google/") {
			return true
		}
		imports := f.Imports()
		for i := range imports.Len() {
			imp := imports.Get(i)
			p := imp.Path()
			if imp.IsPlaceholder() {
				out = append(out, Violation{"EV-L08", f.Path(), fmt.Sprintf("imports %s, which is not in the descriptor set: register the set with every file it needs", p)})
				continue
			}
			if (strings.HasPrefix(p, "google/") || supportFiles[p]) && !allowedImports[p] {
				out = append(out, Violation{"EV-L08", f.Path(), fmt.Sprintf("imports %s; contracts may import only other contracts, hem/options, buf/validate and the well-known types Timestamp, Duration, the wrappers, Struct and google.type.Date", p)})
			}
		}
		return true
	})
	return out
}

// walkTypes calls fn once for every message reachable from md (md first),
// with the path of the first field that leads to it.
func walkTypes(md protoreflect.MessageDescriptor, fn func(path string, m protoreflect.MessageDescriptor)) {
	seen := map[protoreflect.FullName]bool{}
	var walk func(path string, m protoreflect.MessageDescriptor)
	walk = func(path string, m protoreflect.MessageDescriptor) {
		if seen[m.FullName()] {
			return
		}
		seen[m.FullName()] = true
		fn(path, m)
		fields := m.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if sub := fd.Message(); sub != nil {
				if fd.IsMap() {
					if v := fd.MapValue().Message(); v != nil {
						walk(path+"."+string(fd.Name())+".value", v)
					}
					continue
				}
				walk(path+"."+string(fd.Name()), sub)
			}
		}
	}
	walk(string(md.FullName()), md)
}

// compileRules builds the event's validator. Some rule errors (CEL that
// does not compile) surface only when a message is validated, so it
// validates an empty one too and keeps only compilation errors.
func compileRules(md protoreflect.MessageDescriptor) error {
	v, err := protovalidate.New(protovalidate.WithMessageDescriptors(md), protovalidate.WithDisableLazy())
	if err != nil {
		return err
	}
	err = v.Validate(dynamicpb.NewMessage(md))
	var ce *protovalidate.CompilationError
	if errors.As(err, &ce) {
		return err
	}
	return nil
}
