// Package spec reads file source declarations: YAML files under sources/,
// each one hem.source.v1.Source. Every problem is an *Error with the file,
// line and column and the element's path, so a typo in a declaration fails
// the gate the way a typo in a contract does.
//
// A declaration's keys are the proto field names of Source; enums are
// written by value name (LATIN1 or ENCODING_LATIN1); a oneof member is a
// sub-mapping (format: {csv: {...}}, compression: {gzip: {}}); fields is a
// mapping of contract field paths to a column name or a CEL expression:
//
//	name: product-catalogue
//	subject: shop.products.v1.ProductCreated
//	objects: {bucket: hem-landing, pattern: catalogue/*.csv.gz}
//	format:
//	  csv: {delimiter: ";", encoding: LATIN1, columns: [article_no, designation]}
//	compression: {gzip: {}}
//	fields:
//	  sku: article_no
//	  name: row.designation.trim()
//	key: [sku]
//
// The decoded message is then checked with protovalidate, and each
// violation is reported at the line of the element it is about.
package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"buf.build/go/protovalidate"
	"go.yaml.in/yaml/v3"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// Declaration is one parsed and validated declaration.
type Declaration struct {
	Source *sourcev1.Source
	// File is the file it was read from, as named to Load or Parse.
	File string

	pos map[string]pos
}

// Pos is the line and column of the element at path, in the syntax of
// *Error.Path and of source/mapping's Problem.Path: "subject",
// "objects.pattern", "format.csv.columns[2]", "fields[price.amount_micros]",
// "key[0]". An element the file does not hold (a field left out) is placed
// at its nearest enclosing element that it does, at worst the document's
// start.
func (d *Declaration) Pos(path string) (line, col int) {
	for {
		if p, ok := d.pos[path]; ok {
			return p.line, p.col
		}
		if path == "" {
			return 1, 1
		}
		path = parent(path)
	}
}

// Errorf returns an *Error about the element at path, placed by Pos.
func (d *Declaration) Errorf(path, format string, args ...any) *Error {
	line, col := d.Pos(path)
	return &Error{File: d.File, Line: line, Col: col, Path: path, Message: fmt.Sprintf(format, args...)}
}

// parent is the path of the element enclosing path's: fields[a.b] → fields,
// format.csv → format, key[0] → key, subject → "".
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// Parse decodes and validates one declaration. file names it in errors.
// The error, if any, is Errors: every problem found, each with its line.
// Parse does not keep data.
func Parse(file string, data []byte) (*Declaration, error) {
	d := &decoder{file: file, pos: map[string]pos{}, bad: map[string]bool{}}
	doc, ok := d.parseYAML(data)
	if !ok {
		return nil, d.errs.err()
	}
	src := &sourcev1.Source{}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.message(root, src.ProtoReflect(), "")
	decl := &Declaration{Source: src, File: file, pos: d.pos}
	d.errs = append(d.errs, check(decl, d.bad)...)
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return decl, nil
}

var validator = sync.OnceValues(func() (protovalidate.Validator, error) {
	return protovalidate.New(protovalidate.WithMessages(&sourcev1.Source{}), protovalidate.WithDisableLazy())
})

// check runs protovalidate and the rules protovalidate cannot say (globs,
// the delimiter), skipping elements the decoder already failed.
func check(decl *Declaration, bad map[string]bool) Errors {
	var errs Errors
	underBad := func(path string) bool {
		for p := path; ; p = parent(p) {
			if bad[p] {
				return true
			}
			if p == "" {
				return false
			}
		}
	}
	add := func(path, format string, args ...any) {
		if !underBad(path) {
			errs = append(errs, decl.Errorf(path, format, args...))
		}
	}
	v, err := validator()
	if err != nil {
		// The rules of hem's own message are compiled into hem: this is
		// a bug, not a declaration problem.
		panic(fmt.Sprintf("spec: build the validator of hem.source.v1.Source: %v", err))
	}
	if err := v.Validate(decl.Source); err != nil {
		verr, ok := err.(*protovalidate.ValidationError)
		if !ok {
			errs = append(errs, &Error{File: decl.File, Line: 1, Col: 1, Message: fmt.Sprintf("validate: %v", err)})
		} else {
			for _, viol := range verr.Violations {
				msg := viol.Proto.GetMessage()
				if msg == "" {
					msg = viol.Proto.GetRuleId()
				}
				path := violationPath(viol)
				if _, present := decl.pos[path]; !present && viol.Proto.GetRuleId() != "required" {
					msg = "missing (" + msg + ")"
				}
				add(path, "%s", msg)
			}
		}
	}
	src := decl.Source
	if p := src.GetObjects().GetPattern(); p != "" {
		if err := ValidPattern(p); err != nil {
			add("objects.pattern", "%v", err)
		}
	}
	for name, a := range map[string]*sourcev1.Archive{"zip": src.GetCompression().GetZip(), "tar_gz": src.GetCompression().GetTarGz()} {
		if p := a.GetEntryPattern(); p != "" {
			if err := ValidPattern(p); err != nil {
				add("compression."+name+".entry_pattern", "%v", err)
			}
		}
	}
	if c := src.GetFormat().GetCsv(); c != nil && c.GetDelimiter() != "" {
		if r := []rune(c.GetDelimiter()); len(r) == 1 && (r[0] == '"' || r[0] == '\r' || r[0] == '\n' || r[0] == 0xFFFD) {
			add("format.csv.delimiter", "%q cannot be a delimiter", c.GetDelimiter())
		}
	}
	return errs
}

// violationPath writes a violation's field path in the declaration's path
// syntax: map keys unquoted (fields[sku]), indexes as [i].
func violationPath(v *protovalidate.Violation) string {
	var b strings.Builder
	for i, el := range v.Proto.GetField().GetElements() {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(el.GetFieldName())
		switch {
		case el.HasIndex():
			fmt.Fprintf(&b, "[%d]", el.GetIndex())
		case el.HasStringKey():
			fmt.Fprintf(&b, "[%s]", el.GetStringKey())
		case el.HasIntKey():
			fmt.Fprintf(&b, "[%d]", el.GetIntKey())
		case el.HasUintKey():
			fmt.Fprintf(&b, "[%d]", el.GetUintKey())
		case el.HasBoolKey():
			fmt.Fprintf(&b, "[%t]", el.GetBoolKey())
		}
	}
	return b.String()
}

// Load reads every declaration dir/*.yaml (and *.yml), in name order. The
// error, if any, is Errors with every problem of every file, including two
// files declaring the same name; the declarations that are fine are
// returned with it, so a caller can report their further problems in the
// same run.
func Load(dir string) ([]*Declaration, error) {
	var files []string
	for _, glob := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, glob))
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", dir, err)
		}
		files = append(files, m...)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("load declarations: %w", err)
	}
	slices.Sort(files)
	var decls []*Declaration
	var errs Errors
	byName := map[string]*Declaration{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load declarations: %w", err)
		}
		decl, err := Parse(f, data)
		if err != nil {
			if es, ok := err.(Errors); ok {
				errs = append(errs, es...)
				continue
			}
			return nil, err
		}
		if first, dup := byName[decl.Source.GetName()]; dup {
			line, col := first.Pos("name")
			errs = append(errs, decl.Errorf("name", "%q is declared already, in %s:%d:%d: names are unique", decl.Source.GetName(), first.File, line, col))
			continue
		}
		byName[decl.Source.GetName()] = decl
		decls = append(decls, decl)
	}
	return decls, errs.err()
}

// Delimiter is the CSV delimiter, ',' by default.
func Delimiter(c *sourcev1.Csv) rune {
	if r := []rune(c.GetDelimiter()); len(r) == 1 {
		return r[0]
	}
	return ','
}

// Encoding is the text encoding, UTF-8 by default.
func Encoding(c *sourcev1.Csv) sourcev1.Encoding {
	if c.GetEncoding() == sourcev1.Encoding_ENCODING_UNSPECIFIED {
		return sourcev1.Encoding_ENCODING_UTF8
	}
	return c.GetEncoding()
}

// DefaultMaxRejectedShare is the share of a file's records that may be
// rejected when a declaration does not say.
const DefaultMaxRejectedShare = 0.05

// MaxRejectedShare is the share of a file's records that may be rejected
// before it is quarantined: the declaration's, or 0.05.
func MaxRejectedShare(s *sourcev1.Source) float64 {
	if s.MaxRejectedShare != nil {
		return s.GetMaxRejectedShare()
	}
	return DefaultMaxRejectedShare
}

// EntryPattern is the glob over an archive's entry names: the
// declaration's, or "**" (every regular file).
func EntryPattern(a *sourcev1.Archive) string {
	if a.GetEntryPattern() == "" {
		return "**"
	}
	return a.GetEntryPattern()
}
