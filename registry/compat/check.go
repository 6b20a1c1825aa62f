package compat

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
)

// MappingVersion is the version of the pinned proto→BigQuery mapping M that
// contract.MapTable implements. Changing M (EV-B04) is a major version of every
// contract, so it can only come with a new package; a registry admits a
// version only under the mapping its earlier versions were admitted with.
const MappingVersion = 1

// mappingVersionOf is a variable so tests can simulate a changed mapping.
var mappingVersionOf = func(*contract.Schema) int { return MappingVersion }

// Check runs the evolution rules of candidate against every prior version
// (oldest first) and returns each violation once.
func Check(candidate *contract.Schema, prior []*contract.Schema) []Violation {
	if len(prior) == 0 {
		return nil
	}
	cd := derive(candidate)
	c := &checker{subject: candidate.Subject, cand: cd}
	candCols, candErr := cd.cols, cd.colsErr
	live := map[string]*liveColumn{}
	for _, p := range prior {
		c.prior = derive(p)
		if mappingVersionOf(p) != mappingVersionOf(candidate) {
			c.add("EV-B04", candidate.Subject, "version %d was admitted under mapping version %d and this one would use %d: %s",
				p.Version, mappingVersionOf(p), mappingVersionOf(candidate), breaking(candidate.Subject))
		}
		c.messages(p.Descriptor(), candidate.Descriptor(), candidate.Subject, map[protoreflect.FullName]bool{})
		c.types(p, candidate)
		c.files(p, candidate)
		c.rollupEvolution(p, candidate)
		if pc, err := c.prior.cols, c.prior.colsErr; err == nil {
			if candErr == nil {
				c.columns(pc, candCols, candidate.Subject)
			}
			addLive(live, pc)
		}
	}
	if candErr == nil {
		c.collisions(live, candCols, candidate.Subject)
	}
	return tidy(c.out)
}

type checker struct {
	subject string
	cand    *derived
	prior   *derived // the version being compared
	out     []Violation
}

func (c *checker) add(rule, path, format string, args ...any) {
	c.out = append(c.out, Violation{Rule: rule, Path: path, Message: fmt.Sprintf(format, args...)})
}

// types reports messages and enums the prior version used that the
// candidate no longer has (EV-W03), at the first field path that led to
// them.
func (c *checker) types(prior, cand *contract.Schema) {
	have := map[protoreflect.FullName]bool{}
	walkTypes(cand.Descriptor(), func(_ string, m protoreflect.MessageDescriptor) {
		have[m.FullName()] = true
		forEnums(m, func(_ string, e protoreflect.EnumDescriptor) { have[e.FullName()] = true })
	})
	walkTypes(prior.Descriptor(), func(path string, m protoreflect.MessageDescriptor) {
		if !have[m.FullName()] {
			c.add("EV-W03", path, "message %s is gone (renamed or deleted); types an event uses keep their full names within a major: %s", m.FullName(), breaking(c.subject))
		}
		forEnums(m, func(fpath string, e protoreflect.EnumDescriptor) {
			if !have[e.FullName()] {
				c.add("EV-W03", path+"."+fpath, "enum %s is gone (renamed or deleted); types an event uses keep their full names within a major: %s", e.FullName(), breaking(c.subject))
			}
		})
	})
}

func forEnums(m protoreflect.MessageDescriptor, fn func(field string, e protoreflect.EnumDescriptor)) {
	fields := m.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if e := fd.Enum(); e != nil {
			fn(string(fields.Get(i).Name()), e)
		}
	}
}

// files compares file-level properties of the event's file (EV-W01, EV-W02,
// EV-J04).
func (c *checker) files(prior, cand *contract.Schema) {
	pf, cf := prior.Descriptor().ParentFile(), cand.Descriptor().ParentFile()
	if pf.Package() != cf.Package() {
		c.add("EV-W01", c.subject, "package changed from %s to %s: %s", pf.Package(), cf.Package(), breaking(c.subject))
	}
	if pf.Syntax() != cf.Syntax() || edition(pf) != edition(cf) {
		c.add("EV-W02", c.subject, "the file's syntax changed from %s to %s, which changes how fields are encoded: %s", syntaxName(pf), syntaxName(cf), breaking(c.subject))
	}
	if jsonFormat(pf) != jsonFormat(cf) {
		c.add("EV-J04", c.subject, "the json_format feature changed from %s to %s: %s", jsonFormat(pf), jsonFormat(cf), breaking(c.subject))
	}
}

func edition(f protoreflect.FileDescriptor) string {
	if fp, ok := f.(interface{ Edition() int32 }); ok {
		return fmt.Sprint(fp.Edition())
	}
	return ""
}

func syntaxName(f protoreflect.FileDescriptor) string {
	if f.Syntax() == protoreflect.Editions {
		return "editions " + edition(f)
	}
	return f.Syntax().String()
}

func jsonFormat(f protoreflect.FileDescriptor) string {
	opts, ok := f.Options().(*descriptorpb.FileOptions)
	if !ok || opts.GetFeatures() == nil {
		return "default"
	}
	return opts.GetFeatures().GetJsonFormat().String()
}

// messages compares a prior message with the candidate's message of the
// same name, then the types its fields use.
func (c *checker) messages(pm, cm protoreflect.MessageDescriptor, path string, seen map[protoreflect.FullName]bool) {
	if seen[pm.FullName()] {
		return
	}
	seen[pm.FullName()] = true
	if cm == nil || cm.FullName() != pm.FullName() {
		return // EV-W03 or EV-W06 report it
	}
	c.validateRules(pm, cm, path)
	c.oneofs(pm, cm, path)
	c.reserved(pm, cm, path)
	pfs := pm.Fields()
	for i := range pfs.Len() {
		pf := pfs.Get(i)
		fpath := path + "." + string(pf.Name())
		cf := cm.Fields().ByNumber(pf.Number())
		if cf == nil {
			if moved := cm.Fields().ByName(pf.Name()); moved != nil {
				c.add("EV-W05", fpath, "field %s moved from number %d to %d; numbers identify fields on the wire and never change: put it back at %d", pf.Name(), pf.Number(), moved.Number(), pf.Number())
			} else {
				c.add("EV-W04", fpath, "field %s (number %d) was deleted; stored events and the table still have it: keep it and mark it [deprecated = true] instead", pf.Name(), pf.Number())
			}
			continue
		}
		c.field(pf, cf, fpath, seen)
	}
	// New fields on an existing message.
	cfs := cm.Fields()
	for i := range cfs.Len() {
		cf := cfs.Get(i)
		if pm.Fields().ByNumber(cf.Number()) != nil {
			continue
		}
		if c.cand.required[cf.FullName()] {
			c.add("EV-V02", path+"."+string(cf.Name()), "the new field %s is marked (buf.validate.field).required: events producers already send lack it and would be refused; drop required (validate it in the producer), or add the field in a new major", cf.Name())
		}
	}
}

func (c *checker) field(pf, cf protoreflect.FieldDescriptor, path string, seen map[protoreflect.FullName]bool) {
	if pf.Name() != cf.Name() {
		c.add("EV-J01", path, "field number %d was renamed from %s to %s; the name is the JSON key and the BigQuery column: keep %s (deprecate it and add a new field if you must)", pf.Number(), pf.Name(), cf.Name(), pf.Name())
	}
	// Compilers record a json_name for every field; only one set by hand
	// (different from the default camelCase of the name) is a choice.
	if pe, ce := explicitJSONName(pf), explicitJSONName(cf); pe != ce {
		c.add("EV-J02", path, "json_name changed from %q to %q; JSON producers and readers would disagree: restore it", jsonName(pf), jsonName(cf))
	}
	if pt, ct := typeName(pf), typeName(cf); pt != ct {
		c.add("EV-W06", path, "field %s changed type from %s to %s; stored events would decode wrongly and the column type cannot change: %s", pf.Name(), pt, ct, breaking(c.subject))
	} else if pf.IsMap() != cf.IsMap() {
		c.add("EV-W06", path, "field %s changed between map and repeated message: %s", pf.Name(), breaking(c.subject))
	}
	if cardinality(pf) != cardinality(cf) {
		c.add("EV-W07", path, "field %s changed from %s to %s; that changes the wire encoding and the column mode: %s", pf.Name(), cardinality(pf), cardinality(cf), breaking(c.subject))
	}
	if po, co := realOneof(pf), realOneof(cf); po != co {
		c.add("EV-W08", path, "field %s moved %s; existing fields never move into, out of or between oneofs: %s", pf.Name(), oneofMove(po, co), breaking(c.subject))
	}
	if pf.HasDefault() != cf.HasDefault() || (pf.HasDefault() && pf.Default().String() != cf.Default().String()) {
		c.add("EV-W09", path, "the default of %s changed from %s to %s; old and new readers would see different values for the same bytes: restore it", pf.Name(), defaultOf(pf), defaultOf(cf))
	}
	if !sameRules(c.prior, c.cand, pf.FullName(), cf.FullName()) {
		c.add("EV-V01", path, "the protovalidate rules of %s changed; rules of existing fields are frozen within a major (stored and in-flight events were valid under the old ones): restore them, or add a new field with the new rules", pf.Name())
	}
	if typeName(pf) != typeName(cf) {
		return
	}
	switch {
	case pf.Enum() != nil:
		c.enum(pf.Enum(), cf.Enum(), path)
	case pf.IsMap():
		if pv, cv := pf.MapValue(), cf.MapValue(); pv.Message() != nil && cv.Message() != nil {
			c.messages(pv.Message(), cv.Message(), path+".value", seen)
		} else if pv.Enum() != nil && cv.Enum() != nil {
			c.enum(pv.Enum(), cv.Enum(), path+".value")
		}
	case pf.Message() != nil:
		c.messages(pf.Message(), cf.Message(), path, seen)
	}
}

func (c *checker) enum(pe, ce protoreflect.EnumDescriptor, path string) {
	if pe.IsClosed() != ce.IsClosed() {
		c.add("EV-W02", path, "enum %s changed between open and closed; unknown values would be handled differently: %s", pe.FullName(), breaking(c.subject))
	}
	pvs := pe.Values()
	for i := range pvs.Len() {
		pv := pvs.Get(i)
		cv := ce.Values().ByNumber(pv.Number())
		switch {
		case cv == nil:
			c.add("EV-W10", path+"."+string(pv.Name()), "enum value %s (%d) was deleted; stored events and table rows use it: keep it (you may mark it deprecated)", pv.Name(), pv.Number())
		case cv.Name() != pv.Name():
			c.add("EV-J03", path+"."+string(pv.Name()), "enum value %d was renamed from %s to %s; JSON and the STRING column carry the name: keep %s", pv.Number(), pv.Name(), cv.Name(), pv.Name())
		}
	}
}

func (c *checker) oneofs(pm, cm protoreflect.MessageDescriptor, path string) {
	pos := pm.Oneofs()
	for i := range pos.Len() {
		po := pos.Get(i)
		if po.IsSynthetic() {
			continue
		}
		co := cm.Oneofs().ByName(po.Name())
		if co == nil || co.IsSynthetic() {
			c.add("EV-W08", path+"."+string(po.Name()), "oneof %s was renamed or deleted: %s", po.Name(), breaking(c.subject))
			continue
		}
		if !sameRules(c.prior, c.cand, po.FullName(), co.FullName()) {
			c.add("EV-V01", path+"."+string(po.Name()), "the protovalidate rules of oneof %s changed; they are frozen within a major", po.Name())
		}
	}
}

func (c *checker) reserved(pm, cm protoreflect.MessageDescriptor, path string) {
	prs, crs := pm.ReservedRanges(), cm.ReservedRanges()
	for i := range prs.Len() {
		r := prs.Get(i)
		for n := r[0]; n < r[1]; n++ {
			if !crs.Has(n) {
				c.add("EV-W05", path, "reserved number %d is no longer reserved; it may never be reused: restore the reservation", n)
				break
			}
		}
	}
	pns := pm.ReservedNames()
	for i := range pns.Len() {
		if !cm.ReservedNames().Has(pns.Get(i)) {
			c.add("EV-W05", path, "reserved name %s is no longer reserved; restore the reservation", pns.Get(i))
		}
	}
}

func (c *checker) validateRules(pm, cm protoreflect.MessageDescriptor, path string) {
	if !sameRules(c.prior, c.cand, pm.FullName(), cm.FullName()) {
		c.add("EV-V01", path, "the message-level protovalidate rules of %s changed; they are frozen within a major: restore them", pm.Name())
	}
}

func typeName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map<" + typeName(fd.MapKey()) + ", " + typeName(fd.MapValue()) + ">"
	case fd.Message() != nil:
		return string(fd.Message().FullName())
	case fd.Enum() != nil:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func cardinality(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.IsList():
		return "repeated"
	case fd.HasPresence():
		return "singular with presence (optional)"
	}
	return "singular without presence"
}

func realOneof(fd protoreflect.FieldDescriptor) string {
	if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return string(o.Name())
	}
	return ""
}

func oneofMove(from, to string) string {
	switch {
	case from == "":
		return "into oneof " + to
	case to == "":
		return "out of oneof " + from
	}
	return "from oneof " + from + " to " + to
}

func jsonName(fd protoreflect.FieldDescriptor) string {
	if n := explicitJSONName(fd); n != "" {
		return n
	}
	return "(none)"
}

// explicitJSONName is the field's json_name when it differs from the
// default (lowerCamelCase of the field name), else "".
func explicitJSONName(fd protoreflect.FieldDescriptor) string {
	if !fd.HasJSONName() || fd.JSONName() == defaultJSONName(string(fd.Name())) {
		return ""
	}
	return fd.JSONName()
}

func defaultJSONName(name string) string {
	var b strings.Builder
	upper := false
	for _, r := range name {
		if r == '_' {
			upper = true
			continue
		}
		if upper && 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		upper = false
		b.WriteRune(r)
	}
	return b.String()
}

func defaultOf(fd protoreflect.FieldDescriptor) string {
	if !fd.HasDefault() {
		return "(none)"
	}
	return fd.Default().String()
}

// columns checks that every column of the prior mapping survives unchanged
// (EV-B01) and that new columns are NULLABLE or REPEATED (EV-B02).
func (c *checker) columns(prior, cand []contract.Column, path string) {
	for _, pc := range prior {
		cc, ok := contract.Lookup(cand, pc.Name)
		if !ok {
			continue // a deleted field: EV-W04 says so
		}
		cpath := path + "." + pc.Name
		if pc.Type != cc.Type || pc.Mode != cc.Mode {
			c.add("EV-B01", cpath, "column %s would change from %s %s to %s %s; BigQuery cannot change a column's type or mode: %s", pc.Name, pc.Mode, pc.Type, cc.Mode, cc.Type, breaking(c.subject))
			continue
		}
		if pc.Type == contract.Record {
			c.columns(pc.Fields, cc.Fields, cpath)
		}
	}
	for _, cc := range cand {
		if _, ok := contract.Lookup(prior, cc.Name); !ok && cc.Mode != contract.Nullable && cc.Mode != contract.Repeated {
			c.add("EV-B02", path+"."+cc.Name, "the new column %s would be %s; BigQuery adds only NULLABLE or REPEATED columns", cc.Name, cc.Mode)
		}
	}
}

// liveColumn is a column of the live table: the union of every prior
// version's columns, with nested ones.
type liveColumn struct {
	name   string
	fields map[string]*liveColumn
}

func addLive(live map[string]*liveColumn, cols []contract.Column) {
	for _, col := range cols {
		key := strings.ToLower(col.Name)
		lc := live[key]
		if lc == nil {
			lc = &liveColumn{name: col.Name, fields: map[string]*liveColumn{}}
			live[key] = lc
		}
		addLive(lc.fields, col.Fields)
	}
}

// collisions reports new columns whose names equal a live column's ignoring
// case (EV-B03): BigQuery column names are case-insensitive.
func (c *checker) collisions(live map[string]*liveColumn, cand []contract.Column, path string) {
	for _, cc := range cand {
		lc, ok := live[strings.ToLower(cc.Name)]
		if !ok {
			continue
		}
		if lc.name != cc.Name {
			c.add("EV-B03", path+"."+cc.Name, "the column %s collides with the table's column %s (BigQuery ignores case in column names, and columns of earlier versions stay in the table): choose another name", cc.Name, lc.name)
			continue
		}
		c.collisions(lc.fields, cc.Fields, path+"."+cc.Name)
	}
}
