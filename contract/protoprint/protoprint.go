// Package protoprint renders file descriptors back into .proto source, with
// the comments kept in their source info. hem uses it to show a stored
// version of a contract ("hem schema show"): compiling the output gives the
// same descriptors (and so the same schema fingerprint) as the original.
//
// Options are printed in the aggregate form, e.g.
// [(buf.validate.field) = {string: {min_len: 1}}]; custom options defined in
// the printed file set are resolved through the given files.
package protoprint

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// File renders fd as .proto source. files, if not nil, resolves custom
// options that the Go program does not link in (typically the files of the
// descriptor set fd came from).
func File(fd protoreflect.FileDescriptor, files *protoregistry.Files) string {
	p := &printer{fd: fd}
	if files != nil {
		p.types = dynamicpb.NewTypes(files)
	}
	p.file()
	return p.b.String()
}

type printer struct {
	b      strings.Builder
	fd     protoreflect.FileDescriptor
	types  *dynamicpb.Types
	indent int
}

func (p *printer) line(format string, args ...any) {
	if format == "" {
		p.b.WriteString("\n")
		return
	}
	p.b.WriteString(strings.Repeat("  ", p.indent))
	fmt.Fprintf(&p.b, format, args...)
	p.b.WriteString("\n")
}

func (p *printer) file() {
	fd := p.fd
	syntaxLoc := fd.SourceLocations().ByPath(protoreflect.SourcePath{12})
	if fd.Syntax() == protoreflect.Editions {
		syntaxLoc = fd.SourceLocations().ByPath(protoreflect.SourcePath{14})
	}
	p.leading(syntaxLoc)
	switch fd.Syntax() {
	case protoreflect.Editions:
		ed := protodesc.ToFileDescriptorProto(fd).GetEdition().String()
		p.line("edition = %s;", quote(strings.TrimPrefix(ed, "EDITION_")))
	default:
		p.line("syntax = %s;", quote(fd.Syntax().String()))
	}
	p.trailing(syntaxLoc)
	if fd.Package() != "" {
		p.line("")
		loc := fd.SourceLocations().ByPath(protoreflect.SourcePath{2})
		p.leading(loc)
		p.line("package %s;", fd.Package())
		p.trailing(loc)
	}
	if imports := fd.Imports(); imports.Len() > 0 {
		p.line("")
		for i := range imports.Len() {
			imp := imports.Get(i)
			mod := ""
			switch {
			case imp.IsPublic:
				mod = "public "
			case imp.IsWeak: //nolint:staticcheck // protocompile still marks weak imports; printing one as plain would change the file
				mod = "weak "
			}
			p.line("import %s%s;", mod, quote(imp.Path()))
		}
	}
	if opts := p.options(fd.Options()); len(opts) > 0 {
		p.line("")
		for _, o := range opts {
			p.line("option %s;", o)
		}
	}
	for i := range fd.Enums().Len() {
		p.line("")
		p.enum(fd.Enums().Get(i))
	}
	for i := range fd.Messages().Len() {
		p.line("")
		p.message(fd.Messages().Get(i))
	}
	p.extensions(fd.Extensions(), true)
	for i := range fd.Services().Len() {
		p.line("")
		p.service(fd.Services().Get(i))
	}
}

func (p *printer) message(md protoreflect.MessageDescriptor) {
	loc := p.fd.SourceLocations().ByDescriptor(md)
	p.leading(loc)
	p.line("message %s {", md.Name())
	p.trailing(loc)
	p.indent++
	if opts := p.options(md.Options()); len(opts) > 0 {
		for _, o := range opts {
			p.line("option %s;", o)
		}
		if md.Fields().Len() > 0 {
			p.line("")
		}
	}
	fields := md.Fields()
	printedOneof := map[protoreflect.FullName]bool{}
	for i := range fields.Len() {
		f := fields.Get(i)
		if od := f.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if printedOneof[od.FullName()] {
				continue
			}
			printedOneof[od.FullName()] = true
			p.oneof(od)
			continue
		}
		p.field(f, true)
	}
	p.reserved(md.ReservedRanges(), md.ReservedNames())
	if rs := md.ExtensionRanges(); rs.Len() > 0 {
		var parts []string
		for i := range rs.Len() {
			r := rs.Get(i)
			parts = append(parts, rangeString(r[0], r[1]-1, protoreflect.FieldNumber(536870911)))
		}
		p.line("extensions %s;", strings.Join(parts, ", "))
	}
	for i := range md.Enums().Len() {
		p.enum(md.Enums().Get(i))
	}
	for i := range md.Messages().Len() {
		if nested := md.Messages().Get(i); !nested.IsMapEntry() {
			p.message(nested)
		}
	}
	p.extensions(md.Extensions(), false)
	p.indent--
	p.line("}")
}

func (p *printer) oneof(od protoreflect.OneofDescriptor) {
	loc := p.fd.SourceLocations().ByDescriptor(od)
	p.leading(loc)
	p.line("oneof %s {", od.Name())
	p.trailing(loc)
	p.indent++
	for _, o := range p.options(od.Options()) {
		p.line("option %s;", o)
	}
	for i := range od.Fields().Len() {
		p.field(od.Fields().Get(i), false)
	}
	p.indent--
	p.line("}")
}

func (p *printer) field(f protoreflect.FieldDescriptor, withLabel bool) {
	loc := p.fd.SourceLocations().ByDescriptor(f)
	p.leading(loc)
	var b strings.Builder
	if withLabel {
		b.WriteString(p.label(f))
	}
	if f.IsMap() {
		fmt.Fprintf(&b, "map<%s, %s>", p.typeName(f, f.MapKey()), p.typeName(f, f.MapValue()))
	} else {
		b.WriteString(p.typeName(f, f))
	}
	fmt.Fprintf(&b, " %s = %d", f.Name(), f.Number())
	var opts []string
	if f.HasDefault() {
		opts = append(opts, "default = "+defaultString(f))
	}
	if !f.IsExtension() && f.HasJSONName() && f.JSONName() != jsonCamelCase(string(f.Name())) {
		opts = append(opts, "json_name = "+quote(f.JSONName()))
	}
	opts = append(opts, p.options(f.Options())...)
	if len(opts) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(opts, ", "))
	}
	p.line("%s;%s", b.String(), inlineTrailing(loc))
	p.trailingBlock(loc)
}

func (p *printer) label(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return ""
	case f.Cardinality() == protoreflect.Repeated:
		return "repeated "
	case p.fd.Syntax() == protoreflect.Proto2 && f.Cardinality() == protoreflect.Required:
		return "required "
	case p.fd.Syntax() == protoreflect.Proto2:
		return "optional "
	case p.fd.Syntax() == protoreflect.Proto3 && f.HasOptionalKeyword():
		return "optional "
	}
	return ""
}

// typeName is how field f refers to the type of t (f itself, or a map key
// or value).
func (p *printer) typeName(f, t protoreflect.FieldDescriptor) string {
	var target protoreflect.Descriptor
	switch {
	case t.Message() != nil:
		target = t.Message()
	case t.Enum() != nil:
		target = t.Enum()
	default:
		return t.Kind().String()
	}
	return p.relName(f.Parent(), target.FullName())
}

// relName names target as seen from scope: relative to the package when
// that resolves unambiguously, else fully qualified.
func (p *printer) relName(scope protoreflect.Descriptor, target protoreflect.FullName) string {
	pkg := p.fd.Package()
	rel, ok := strings.CutPrefix(string(target), string(pkg)+".")
	if pkg == "" {
		rel, ok = string(target), true
	}
	if !ok {
		// Another package: a full name resolves unless a nested element
		// shadows its first component.
		if p.shadowed(scope, strings.SplitN(string(target), ".", 2)[0], "") {
			return "." + string(target)
		}
		return string(target)
	}
	first := strings.SplitN(rel, ".", 2)[0]
	if p.shadowed(scope, first, protoreflect.FullName(pkg).Append(protoreflect.Name(first))) {
		return "." + string(target)
	}
	return rel
}

// shadowed reports whether name, looked up from scope outwards, finds
// something other than want.
func (p *printer) shadowed(scope protoreflect.Descriptor, name string, want protoreflect.FullName) bool {
	for d := scope; d != nil; d = d.Parent() {
		md, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			break
		}
		n := protoreflect.Name(name)
		if md.Messages().ByName(n) != nil || md.Enums().ByName(n) != nil || md.Fields().ByName(n) != nil {
			return md.FullName().Append(n) != want
		}
	}
	return false
}

func (p *printer) enum(ed protoreflect.EnumDescriptor) {
	loc := p.fd.SourceLocations().ByDescriptor(ed)
	p.leading(loc)
	p.line("enum %s {", ed.Name())
	p.trailing(loc)
	p.indent++
	for _, o := range p.options(ed.Options()) {
		p.line("option %s;", o)
	}
	for i := range ed.Values().Len() {
		v := ed.Values().Get(i)
		vloc := p.fd.SourceLocations().ByDescriptor(v)
		p.leading(vloc)
		opts := ""
		if o := p.options(v.Options()); len(o) > 0 {
			opts = " [" + strings.Join(o, ", ") + "]"
		}
		p.line("%s = %d%s;%s", v.Name(), v.Number(), opts, inlineTrailing(vloc))
		p.trailingBlock(vloc)
	}
	p.reserved(ed.ReservedRanges(), ed.ReservedNames())
	p.indent--
	p.line("}")
}

type numberRanges interface {
	Len() int
}

func (p *printer) reserved(ranges numberRanges, names protoreflect.Names) {
	var parts []string
	switch rs := ranges.(type) {
	case protoreflect.FieldRanges:
		for i := range rs.Len() {
			r := rs.Get(i)
			parts = append(parts, rangeString(r[0], r[1]-1, protoreflect.FieldNumber(536870911)))
		}
	case protoreflect.EnumRanges:
		for i := range rs.Len() {
			r := rs.Get(i)
			parts = append(parts, rangeString(r[0], r[1], protoreflect.EnumNumber(math.MaxInt32)))
		}
	}
	if len(parts) > 0 {
		p.line("reserved %s;", strings.Join(parts, ", "))
	}
	if names.Len() > 0 {
		var ns []string
		for i := range names.Len() {
			if p.fd.Syntax() == protoreflect.Editions {
				ns = append(ns, string(names.Get(i)))
			} else {
				ns = append(ns, quote(string(names.Get(i))))
			}
		}
		p.line("reserved %s;", strings.Join(ns, ", "))
	}
}

func rangeString[N ~int32](lo, hi, maxN N) string {
	switch {
	case lo == hi:
		return strconv.Itoa(int(lo))
	case hi == maxN:
		return fmt.Sprintf("%d to max", lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

func (p *printer) extensions(exts protoreflect.ExtensionDescriptors, topLevel bool) {
	if exts.Len() == 0 {
		return
	}
	// Group by extendee, in declaration order.
	var order []protoreflect.FullName
	by := map[protoreflect.FullName][]protoreflect.ExtensionDescriptor{}
	for i := range exts.Len() {
		x := exts.Get(i)
		name := x.ContainingMessage().FullName()
		if _, ok := by[name]; !ok {
			order = append(order, name)
		}
		by[name] = append(by[name], x)
	}
	for _, name := range order {
		if topLevel {
			p.line("")
		}
		var scope protoreflect.Descriptor = p.fd
		if !topLevel {
			scope = by[name][0].Parent()
		}
		p.line("extend %s {", p.relName(scope, name))
		p.indent++
		for _, x := range by[name] {
			p.field(x, true)
		}
		p.indent--
		p.line("}")
	}
}

func (p *printer) service(sd protoreflect.ServiceDescriptor) {
	loc := p.fd.SourceLocations().ByDescriptor(sd)
	p.leading(loc)
	p.line("service %s {", sd.Name())
	p.trailing(loc)
	p.indent++
	for _, o := range p.options(sd.Options()) {
		p.line("option %s;", o)
	}
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		mloc := p.fd.SourceLocations().ByDescriptor(m)
		p.leading(mloc)
		in, out := p.relName(p.fd, m.Input().FullName()), p.relName(p.fd, m.Output().FullName())
		if m.IsStreamingClient() {
			in = "stream " + in
		}
		if m.IsStreamingServer() {
			out = "stream " + out
		}
		opts := p.options(m.Options())
		if len(opts) == 0 {
			p.line("rpc %s(%s) returns (%s);%s", m.Name(), in, out, inlineTrailing(mloc))
			continue
		}
		p.line("rpc %s(%s) returns (%s) {", m.Name(), in, out)
		p.indent++
		for _, o := range opts {
			p.line("option %s;", o)
		}
		p.indent--
		p.line("}")
	}
	p.indent--
	p.line("}")
}

// options renders the set fields of an options message as "name = value",
// ordered by field number.
func (p *printer) options(opts proto.Message) []string {
	if opts == nil {
		return nil
	}
	m := p.resolved(opts.ProtoReflect())
	type kv struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var set []kv
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		set = append(set, kv{fd, v})
		return true
	})
	slices.SortFunc(set, func(a, b kv) int { return cmp.Compare(a.fd.Number(), b.fd.Number()) })
	var out []string
	for _, e := range set {
		name := string(e.fd.Name())
		if e.fd.IsExtension() {
			name = "(" + string(e.fd.FullName()) + ")"
		}
		if e.fd.IsList() {
			l := e.v.List()
			for i := range l.Len() {
				out = append(out, name+" = "+p.single(e.fd, l.Get(i)))
			}
			continue
		}
		out = append(out, name+" = "+p.value(e.fd, e.v))
	}
	return out
}

// resolved re-reads an options message with unknown fields through the
// file set's types, so custom options defined there print by name.
func (p *printer) resolved(m protoreflect.Message) protoreflect.Message {
	if p.types == nil || len(m.GetUnknown()) == 0 {
		return m
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
	if err != nil {
		return m
	}
	n := dynamicpb.NewMessage(m.Descriptor())
	if err := (proto.UnmarshalOptions{Resolver: p.types}).Unmarshal(b, n); err != nil {
		return m
	}
	return n
}

func (p *printer) value(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch {
	case fd.IsList():
		l := v.List()
		parts := make([]string, l.Len())
		for i := range l.Len() {
			parts[i] = p.single(fd, l.Get(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case fd.IsMap():
		var parts []string
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			parts = append(parts, fmt.Sprintf("{key: %s, value: %s}", p.single(fd.MapKey(), k.Value()), p.single(fd.MapValue(), mv)))
			return true
		})
		slices.Sort(parts)
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return p.single(fd, v)
}

func (p *printer) single(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	case protoreflect.StringKind:
		return quote(v.String())
	case protoreflect.BytesKind:
		return quote(string(v.Bytes()))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return floatString(v.Float())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return p.aggregate(p.resolved(v.Message()))
	}
	return v.String()
}

// aggregate renders a message literal, e.g. {string: {min_len: 1}}.
func (p *printer) aggregate(m protoreflect.Message) string {
	type kv struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var set []kv
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		set = append(set, kv{fd, v})
		return true
	})
	slices.SortFunc(set, func(a, b kv) int { return cmp.Compare(a.fd.Number(), b.fd.Number()) })
	parts := make([]string, 0, len(set))
	for _, e := range set {
		name := string(e.fd.Name())
		if e.fd.IsExtension() {
			name = "[" + string(e.fd.FullName()) + "]"
		} else if e.fd.Kind() == protoreflect.GroupKind {
			name = string(e.fd.Message().Name())
		}
		parts = append(parts, name+": "+p.value(e.fd, e.v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func floatString(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	return s
}

func defaultString(f protoreflect.FieldDescriptor) string {
	v := f.Default()
	switch f.Kind() {
	case protoreflect.EnumKind:
		return string(f.DefaultEnumValue().Name())
	case protoreflect.StringKind:
		return quote(v.String())
	case protoreflect.BytesKind:
		return quote(string(v.Bytes()))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return floatString(v.Float())
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool())
	}
	return v.String()
}

// quote renders s as a proto string literal: valid UTF-8 stays readable,
// anything else is escaped in octal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			fmt.Fprintf(&b, `\%03o`, s[i])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// jsonCamelCase is protoc's default json_name.
func jsonCamelCase(s string) string {
	var b strings.Builder
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_':
			upper = true
		case upper && 'a' <= c && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
			upper = false
		default:
			b.WriteByte(c)
			upper = false
		}
	}
	return b.String()
}

func (p *printer) leading(loc protoreflect.SourceLocation) {
	for _, c := range loc.LeadingDetachedComments {
		p.comment(c)
		p.line("")
	}
	if loc.LeadingComments != "" {
		p.comment(loc.LeadingComments)
	}
}

func (p *printer) comment(c string) {
	for _, l := range strings.Split(strings.TrimSuffix(c, "\n"), "\n") {
		p.line("//%s", l)
	}
}

// trailing prints the trailing comment of a block opener on its own lines.
func (p *printer) trailing(loc protoreflect.SourceLocation) {
	if loc.TrailingComments != "" {
		p.indent++
		p.comment(loc.TrailingComments)
		p.indent--
	}
}

// inlineTrailing is a one-line trailing comment, printed after the element.
func inlineTrailing(loc protoreflect.SourceLocation) string {
	c := loc.TrailingComments
	if c == "" || strings.Contains(strings.TrimSuffix(c, "\n"), "\n") {
		return ""
	}
	return " //" + strings.TrimSuffix(c, "\n")
}

// trailingBlock prints a multi-line trailing comment below the element.
func (p *printer) trailingBlock(loc protoreflect.SourceLocation) {
	c := loc.TrailingComments
	if c != "" && strings.Contains(strings.TrimSuffix(c, "\n"), "\n") {
		p.comment(c)
	}
}
