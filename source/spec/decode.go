package spec

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxFileBytes bounds a declaration file: a declaration is a few hundred
// bytes, and the YAML parser holds the whole file as a node tree.
const MaxFileBytes = 1 << 20

type pos struct{ line, col int }

// decoder walks a yaml.Node tree into a proto message: keys are the proto
// field names, enums their value names, oneof members sub-mappings. It
// records where each element is and every problem, and goes on after one.
type decoder struct {
	file string
	pos  map[string]pos // element path → position of its value
	errs Errors
	// bad holds the paths that had a problem: validation says nothing more
	// about them.
	bad map[string]bool
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Col: n.Column, Path: path, Message: fmt.Sprintf(format, args...)})
	d.bad[path] = true
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseYAML reads exactly one YAML document.
func (d *decoder) parseYAML(data []byte) (*yaml.Node, bool) {
	if len(data) > MaxFileBytes {
		d.errs = append(d.errs, &Error{File: d.file, Line: 1, Message: fmt.Sprintf("the file has %d bytes, more than the %d a declaration may have", len(data), MaxFileBytes)})
		return nil, false
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, &Error{File: d.file, Line: 1, Col: 1, Message: "the file is empty: want one source declaration (name, subject, objects, format, fields)"})
			return nil, false
		}
		d.yamlError(err)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.errs = append(d.errs, &Error{File: d.file, Line: max(next.Line, 1), Col: next.Column, Message: "a second YAML document: a file holds one source declaration"})
		return nil, false
	case !errors.Is(err, io.EOF):
		d.yamlError(err)
		return nil, false
	}
	return &doc, true
}

// parserProblems are the problems of yaml.v3's parser (parserc.go), as
// opposed to its scanner's: it reports their line 0-based, and the
// scanner's 1-based.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
}

// yamlError turns the parser's "yaml: line N: problem" into an *Error. The
// parser gives no column, and omits the line when it is the first.
func (d *decoder) yamlError(err error) {
	msg, line := err.Error(), 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if parserProblems[msg] {
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: max(line, 1), Message: "not valid YAML: " + msg})
}

// message decodes the mapping n into m.
func (d *decoder) message(n *yaml.Node, m protoreflect.Message, path string) {
	d.pos[path] = pos{n.Line, n.Column}
	if !d.plain(n, path) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping of the fields of %s (%s), got %s", m.Descriptor().Name(), fieldList(m.Descriptor()), describe(n))
		return
	}
	md := m.Descriptor()
	seen := map[string]*yaml.Node{}
	oneofs := map[protoreflect.FullName]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.plain(k, path) {
			continue
		}
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			d.fail(k, path, "want a field name as key, got %s", describe(k))
			continue
		}
		fpath := join(path, k.Value)
		if !d.plain(v, fpath) {
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.fail(k, fpath, "set twice (first on line %d)", prev.Line)
			continue
		}
		seen[k.Value] = k
		fd := md.Fields().ByName(protoreflect.Name(k.Value))
		if fd == nil {
			d.fail(k, fpath, "unknown field%s (%s has %s)", suggest(k.Value, fieldNames(md)), md.Name(), fieldList(md))
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if other, ok := oneofs[od.FullName()]; ok {
				d.fail(k, fpath, "%s and %s are alternatives: set one of %s", other, k.Value, oneofList(od))
				continue
			}
			oneofs[od.FullName()] = k.Value
		}
		d.field(v, m, fd, fpath)
	}
}

// plain refuses YAML features a declaration does not need and a walk
// should not follow: aliases (an alias bomb expands exponentially) and merge
// keys.
func (d *decoder) plain(n *yaml.Node, path string) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		d.fail(n, path, "YAML aliases (*%s) are not supported in a declaration: write the value out", n.Value)
		return false
	case n.Tag == "!!merge":
		d.fail(n, path, "YAML merge keys (<<) are not supported in a declaration: write the fields out")
		return false
	}
	return true
}

func (d *decoder) field(v *yaml.Node, m protoreflect.Message, fd protoreflect.FieldDescriptor, path string) {
	d.pos[path] = pos{v.Line, v.Column}
	if isNull(v) && fd.Kind() != protoreflect.MessageKind {
		return // like protojson's null: the field stays unset
	}
	switch {
	case fd.IsMap():
		d.mapField(v, m.Mutable(fd).Map(), fd, path)
	case fd.IsList():
		if v.Kind != yaml.SequenceNode {
			d.fail(v, path, "want a list ([a, b] or lines starting with -), got %s", describe(v))
			return
		}
		list := m.Mutable(fd).List()
		for i, e := range v.Content {
			epath := fmt.Sprintf("%s[%d]", path, i)
			d.pos[epath] = pos{e.Line, e.Column}
			if !d.plain(e, epath) {
				continue
			}
			if fd.Kind() == protoreflect.MessageKind {
				el := list.NewElement()
				d.message(e, el.Message(), epath)
				list.Append(el)
				continue
			}
			if val, ok := d.scalar(e, fd, epath); ok {
				list.Append(val)
			}
		}
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		sub := m.Mutable(fd).Message()
		if isNull(v) {
			return // "gzip:" alone sets the empty message, as "gzip: {}" does
		}
		d.message(v, sub, path)
	default:
		if val, ok := d.scalar(v, fd, path); ok {
			m.Set(fd, val)
		}
	}
}

func (d *decoder) mapField(v *yaml.Node, mp protoreflect.Map, fd protoreflect.FieldDescriptor, path string) {
	if v.Kind != yaml.MappingNode {
		d.fail(v, path, "want a mapping (key: value lines), got %s", describe(v))
		return
	}
	if fd.MapKey().Kind() != protoreflect.StringKind {
		d.fail(v, path, "maps with %s keys are not supported in a declaration", fd.MapKey().Kind())
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, e := v.Content[i], v.Content[i+1]
		if !d.plain(k, path) {
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.fail(k, path, "want a text key, got %s", describe(k))
			continue
		}
		epath := path + "[" + k.Value + "]"
		if prev, dup := seen[k.Value]; dup {
			d.fail(k, epath, "set twice (first on line %d)", prev.Line)
			continue
		}
		seen[k.Value] = k
		d.pos[epath] = pos{e.Line, e.Column}
		if !d.plain(e, epath) {
			continue
		}
		var val protoreflect.Value
		var ok bool
		if fd.MapValue().Kind() == protoreflect.StringKind && e.Kind == yaml.ScalarNode && !isNull(e) {
			// A value is text whatever it looks like: a CEL expression
			// may well be 0 or true.
			val, ok = protoreflect.ValueOfString(e.Value), true
		} else if fd.MapValue().Kind() == protoreflect.MessageKind {
			el := mp.NewValue()
			d.message(e, el.Message(), epath)
			val, ok = el, true
		} else {
			val, ok = d.scalar(e, fd.MapValue(), epath)
		}
		if ok {
			mp.Set(protoreflect.ValueOfString(k.Value).MapKey(), val)
		}
	}
}

// scalar decodes a scalar node as fd's kind.
func (d *decoder) scalar(n *yaml.Node, fd protoreflect.FieldDescriptor, path string) (protoreflect.Value, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.fail(n, path, "want %s, got %s", want(fd), describe(n))
		return protoreflect.Value{}, false
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		if n.Tag != "!!str" {
			d.fail(n, path, "want text, got %s (quote it: %q)", describe(n), n.Value)
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfString(n.Value), true
	case protoreflect.BoolKind:
		if n.Tag != "!!bool" {
			d.fail(n, path, "want true or false, got %s", describe(n))
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfBool(strings.EqualFold(n.Value, "true")), true
	case protoreflect.EnumKind:
		return d.enum(n, fd.Enum(), path)
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		if n.Tag != "!!float" && n.Tag != "!!int" {
			d.fail(n, path, "want a number, got %s", describe(n))
			return protoreflect.Value{}, false
		}
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, path, "want a number: %v", err)
			return protoreflect.Value{}, false
		}
		var f float64
		switch x := x.(type) {
		case float64:
			f = x
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		case uint64:
			f = float64(x)
		default:
			d.fail(n, path, "want a number, got %s", describe(n))
			return protoreflect.Value{}, false
		}
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), true
		}
		return protoreflect.ValueOfFloat64(f), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		i, ok := d.integer(n, path, false)
		if !ok {
			return protoreflect.Value{}, false
		}
		if is32(fd.Kind()) {
			if i.neg && i.u > -math.MinInt32 || !i.neg && i.u > math.MaxInt32 {
				d.fail(n, path, "%s is out of range for %s", n.Value, fd.Kind())
				return protoreflect.Value{}, false
			}
			return protoreflect.ValueOfInt32(int32(i.int64())), true
		}
		if i.neg && i.u > 1<<63 || !i.neg && i.u > math.MaxInt64 {
			d.fail(n, path, "%s is out of range for %s", n.Value, fd.Kind())
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfInt64(i.int64()), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		i, ok := d.integer(n, path, true)
		if !ok {
			return protoreflect.Value{}, false
		}
		if fd.Kind() == protoreflect.Uint32Kind || fd.Kind() == protoreflect.Fixed32Kind {
			if i.u > math.MaxUint32 {
				d.fail(n, path, "%s is out of range for %s", n.Value, fd.Kind())
				return protoreflect.Value{}, false
			}
			return protoreflect.ValueOfUint32(uint32(i.u)), true
		}
		return protoreflect.ValueOfUint64(i.u), true
	}
	d.fail(n, path, "fields of kind %s are not supported in a declaration", fd.Kind())
	return protoreflect.Value{}, false
}

func is32(k protoreflect.Kind) bool {
	return k == protoreflect.Int32Kind || k == protoreflect.Sint32Kind || k == protoreflect.Sfixed32Kind
}

// integer is a YAML integer as sign and magnitude, so every int64 and
// uint64 fits.
type integer struct {
	neg bool
	u   uint64
}

func (i integer) int64() int64 {
	if i.neg {
		return -int64(i.u-1) - 1
	}
	return int64(i.u)
}

func (d *decoder) integer(n *yaml.Node, path string, unsigned bool) (integer, bool) {
	if n.Tag != "!!int" {
		d.fail(n, path, "want a whole number, got %s", describe(n))
		return integer{}, false
	}
	var x any
	if err := n.Decode(&x); err != nil {
		d.fail(n, path, "want a whole number: %v", err)
		return integer{}, false
	}
	var i integer
	switch x := x.(type) {
	case int:
		i = integer{neg: x < 0, u: uint64(x)}
		if x < 0 {
			i.u = uint64(-(x + 1)) + 1
		}
	case int64:
		i = integer{neg: x < 0, u: uint64(x)}
		if x < 0 {
			i.u = uint64(-(x + 1)) + 1
		}
	case uint64:
		i = integer{u: x}
	default:
		d.fail(n, path, "%s is out of range", n.Value)
		return integer{}, false
	}
	if unsigned && i.neg {
		d.fail(n, path, "want a number from 0, got %s", n.Value)
		return integer{}, false
	}
	return i, true
}

// enum takes a value's name, with or without the enum's prefix and in any
// case: LATIN1, latin1 and ENCODING_LATIN1 are the same.
func (d *decoder) enum(n *yaml.Node, ed protoreflect.EnumDescriptor, path string) (protoreflect.Value, bool) {
	names := enumNames(ed)
	if n.Tag == "!!str" {
		want := strings.ToUpper(n.Value)
		for _, name := range names {
			if want == name || want == enumPrefix(ed)+name {
				return protoreflect.ValueOfEnum(ed.Values().ByName(protoreflect.Name(enumPrefix(ed) + name)).Number()), true
			}
		}
		if v := ed.Values().ByName(protoreflect.Name(n.Value)); v != nil {
			return protoreflect.ValueOfEnum(v.Number()), true
		}
	}
	d.fail(n, path, "unknown %s %s%s (one of %s)", ed.Name(), describe(n), suggest(strings.ToUpper(n.Value), names), strings.Join(names, ", "))
	return protoreflect.Value{}, false
}

// enumPrefix is the prefix all of an enum's value names share by proto
// style (ENCODING_ for Encoding), "" if they do not.
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	p := strings.ToUpper(contractSnake(string(ed.Name()))) + "_"
	for i := range ed.Values().Len() {
		if !strings.HasPrefix(string(ed.Values().Get(i).Name()), p) {
			return ""
		}
	}
	return p
}

// enumNames lists the values a declaration may name (without the prefix and
// the UNSPECIFIED zero value).
func enumNames(ed protoreflect.EnumDescriptor) []string {
	p := enumPrefix(ed)
	var out []string
	for i := range ed.Values().Len() {
		name := strings.TrimPrefix(string(ed.Values().Get(i).Name()), p)
		if name != "UNSPECIFIED" {
			out = append(out, name)
		}
	}
	return out
}

// contractSnake turns TarGz into tar_gz.
func contractSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// describe names what a node is, for "want X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	switch n.Tag {
	case "!!null":
		return "nothing (null)"
	case "!!str":
		return strconv.Quote(v)
	case "!!int":
		return "the number " + v
	case "!!float":
		return "the number " + v
	case "!!bool":
		return "the boolean " + v
	}
	return fmt.Sprintf("%s %q", n.Tag, v)
}

func want(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "text"
	case protoreflect.BoolKind:
		return "true or false"
	case protoreflect.EnumKind:
		return "one of " + strings.Join(enumNames(fd.Enum()), ", ")
	case protoreflect.MessageKind:
		return "a mapping"
	}
	return "a number"
}

func fieldNames(md protoreflect.MessageDescriptor) []string {
	out := make([]string, md.Fields().Len())
	for i := range md.Fields().Len() {
		out[i] = string(md.Fields().Get(i).Name())
	}
	return out
}

func fieldList(md protoreflect.MessageDescriptor) string {
	return strings.Join(fieldNames(md), ", ")
}

func oneofList(od protoreflect.OneofDescriptor) string {
	var names []string
	for i := range od.Fields().Len() {
		names = append(names, string(od.Fields().Get(i).Name()))
	}
	return strings.Join(names, ", ")
}

// suggest is `; did you mean "x"?` when one of names is close to s.
func suggest(s string, names []string) string {
	if best := Closest(s, names); best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return ""
}

// Closest is the one of names a typo of s most likely meant (at most two
// edits away, ignoring case), "" if none is.
func Closest(s string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if dist := levenshtein(strings.ToLower(s), strings.ToLower(n)); dist < bestDist && dist < max(len(n)/2, 1)+1 {
			best, bestDist = n, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
