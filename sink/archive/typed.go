package archive

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/wire"
)

// Typed columns. An events object holds, between the envelope and the
// payload, the columns the contract maps to (contract.MapFields, the
// warehouse's columns): records as Parquet groups, repeated fields and maps
// as Parquet LISTs (of key/value groups for maps), timestamps as
// TIMESTAMP(MICROS, UTC), enums as their value names, so DuckDB, Spark and
// BigQuery external tables read fields without hem.
//
// One object, one shape: the columns are the newest version's among the
// object's events, and every payload is decoded with that version's
// descriptor (older versions decode under newer ones, EVOLUTION.md
// guarantee a). A field an event's own version lacks is NULL, as in the
// warehouse. The object's metadata names the schema id whose columns it
// holds (hem.columns).
//
// Where Parquet and the warehouses differ: a Duration is INT64 microseconds
// (Parquet's INTERVAL is not read by BigQuery); a uint64 is DECIMAL(20,0),
// which BigQuery reads as NUMERIC.
//
// A field whose column would clash with the archive's own names (payload,
// and the hive partition keys type, dt and hour, which readers add as
// columns) has no typed column; it stays in the payload, and the object's
// metadata lists it (hem.untyped).
//
// The typed columns add to the object, never replace: the payload stays the
// truth, and a payload the newest descriptor cannot decode is archived with
// NULL typed columns rather than refused.

// Metadata keys of a typed object.
const (
	metaColumns = "hem.columns" // schema id of the typed columns
	metaUntyped = "hem.untyped" // comma-separated fields without a column
)

// reserved are the column names a contract field cannot take in an object
// (compared ignoring case, as BigQuery and DuckDB do).
var reserved = map[string]bool{"payload": true, "type": true, "dt": true, "hour": true}

// envelopeSchema is the untyped object's schema; a typed object takes its
// columns, the payload last.
var envelopeSchema = parquet.SchemaOf(new(record))

// layout is the shape of typed objects for one newest schema: the Parquet
// schema, the columns of the contract's fields, and the plan that reads
// their values from payload bytes.
type layout struct {
	newest  *contract.Schema
	schema  *parquet.Schema
	fields  []*node // the typed top-level columns
	nodes   int     // fields and their descendants, for known
	payload int     // column index of payload
	untyped []string
	plan    plan
	typers  sync.Pool // *typer, with its columns' memory

	mu    sync.Mutex
	known map[*contract.Schema][]bool // per older version: the nodes it has
}

// node is one column of the contract: a field's column, a list's element or
// a map entry's key or value.
type node struct {
	id       int // index into known; -1 for elements
	col      contract.Column
	fd       protoreflect.FieldDescriptor // in the newest descriptor; nil for elements and map key/values
	kind     protoreflect.Kind            // of the value (the wrapped scalar for wrappers)
	enum     protoreflect.EnumDescriptor
	wrapper  bool
	leaf     int // first leaf column
	leaves   int
	rep      byte // repetition level of this node's list (for lists)
	children []*node
	elem     *node // a repeated column's element
}

// layouts caches a layout per newest schema. Schemas come from the
// registry's cache or from an object's metadata and are long-lived.
var layouts sync.Map // *contract.Schema → *layout

func layoutOf(newest *contract.Schema) (*layout, error) {
	if l, ok := layouts.Load(newest); ok {
		return l.(*layout), nil
	}
	l, err := newLayout(newest)
	if err != nil {
		return nil, err
	}
	got, _ := layouts.LoadOrStore(newest, l)
	return got.(*layout), nil
}

func newLayout(newest *contract.Schema) (_ *layout, err error) {
	defer func() {
		// A shape Parquet refuses (an empty message's group) loses the
		// typed columns, never the events: Encode writes the envelope.
		if r := recover(); r != nil {
			err = fmt.Errorf("archive: columns of %s: %v", newest.Subject, r)
		}
	}()
	cols, err := contract.MapFields(newest.Descriptor())
	if err != nil {
		return nil, fmt.Errorf("archive: columns of %s: %w", newest.Subject, err)
	}
	l := &layout{newest: newest, known: map[*contract.Schema][]bool{}}
	env := envelopeSchema.Fields()
	root := orderedGroup{}
	for _, f := range env[:len(env)-1] {
		root.add(f.Name(), f)
	}
	b := builder{l: l, leaf: len(env) - 1}
	for _, c := range cols {
		if reserved[strings.ToLower(c.Name)] {
			l.untyped = append(l.untyped, c.Name)
			continue
		}
		if !hasLeaves(c) {
			continue
		}
		n, pn := b.column(c, c.Field)
		l.fields = append(l.fields, n)
		root.add(c.Name, pn)
	}
	l.payload = b.leaf
	payload := env[len(env)-1]
	root.add(payload.Name(), payload)
	l.nodes = b.ids
	l.schema = parquet.NewSchema("hem", root)
	if got := len(l.schema.Columns()); got != l.payload+1 {
		return nil, fmt.Errorf("archive: columns of %s: %d leaf columns, planned %d", newest.Subject, got, l.payload+1)
	}
	l.plan = newPlan(l.fields, newest.Descriptor())
	return l, nil
}

type builder struct {
	l    *layout
	leaf int  // next leaf column
	ids  int  // next node id
	rep  byte // lists around the node being planned
}

// column plans contract column c (a field's column when fd is set) and
// returns its Parquet node: optional, or a LIST for a repeated column.
func (b *builder) column(c contract.Column, fd protoreflect.FieldDescriptor) (*node, parquet.Node) {
	n := &node{id: b.ids, col: c, fd: fd, leaf: b.leaf}
	b.ids++
	if c.Mode == contract.Repeated {
		b.rep++
		defer func() { b.rep-- }()
		n.rep = b.rep
		elem := c
		elem.Mode = contract.Nullable
		e := &node{id: -1, col: elem, fd: fd, leaf: b.leaf}
		var pn parquet.Node
		if fd.IsMap() {
			e.fd = nil
			key, kn := b.column(c.Fields[0], fd.MapKey())
			val, vn := b.column(c.Fields[1], fd.MapValue())
			key.fd, val.fd = fd.MapKey(), fd.MapValue()
			e.children = []*node{key, val}
			g := orderedGroup{}
			g.add("key", kn)
			g.add("value", vn)
			pn = g
		} else {
			pn = b.value(e, fd)
		}
		e.leaves = b.leaf - e.leaf
		n.elem, n.leaves = e, e.leaves
		return n, parquet.List(pn)
	}
	pn := b.value(n, fd)
	n.leaves = b.leaf - n.leaf
	return n, parquet.Optional(pn)
}

// value plans the value of n (held in fd, ignoring its cardinality) and
// returns its required Parquet node.
func (b *builder) value(n *node, fd protoreflect.FieldDescriptor) parquet.Node {
	n.kind = fd.Kind()
	if fd.Kind() == protoreflect.EnumKind {
		n.enum = fd.Enum()
	}
	if n.col.Type == contract.Record {
		g := orderedGroup{}
		fields := fd.Message().Fields()
		for _, c := range n.col.Fields {
			if !hasLeaves(c) {
				continue
			}
			child, cn := b.column(c, fields.ByNumber(c.Field.Number()))
			n.children = append(n.children, child)
			g.add(c.Name, cn)
		}
		return g
	}
	if fd.Kind() == protoreflect.MessageKind && contract.IsWrapper(fd.Message()) {
		n.wrapper = true
		inner := fd.Message().Fields().ByNumber(1)
		n.kind = inner.Kind()
	}
	b.leaf++
	switch n.col.Type {
	case contract.Bool:
		return parquet.Leaf(parquet.BooleanType)
	case contract.Int64, contract.Interval:
		return parquet.Int(64)
	case contract.Numeric:
		return parquet.Decimal(0, 20, parquet.FixedLenByteArrayType(9))
	case contract.Float64:
		return parquet.Leaf(parquet.DoubleType)
	case contract.String:
		return parquet.String()
	case contract.Bytes:
		return parquet.Leaf(parquet.ByteArrayType)
	case contract.Timestamp:
		return parquet.Timestamp(parquet.Microsecond)
	case contract.Date:
		return parquet.Date()
	case contract.JSON:
		return parquet.JSON()
	}
	panic(fmt.Sprintf("archive: no Parquet type for %s", n.col.Type)) // MapFields maps no other type
}

// hasLeaves reports whether c holds a value: a message without fields,
// and a map of them, have no column (Parquet has no empty group; readers
// refuse a file with one).
func hasLeaves(c contract.Column) bool {
	switch {
	case c.Type != contract.Record:
		return true
	case c.Field != nil && c.Field.IsMap():
		return hasLeaves(c.Fields[1])
	}
	return slices.ContainsFunc(c.Fields, hasLeaves)
}

// knownOf reports, per node, whether version s has its field: a field
// added after s is NULL in s's rows, as in the warehouse, not the zero
// value its decoding under the newest descriptor gives. Nil means all.
func (l *layout) knownOf(s *contract.Schema) []bool {
	if s == l.newest || s.Fingerprint() == l.newest.Fingerprint() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if k, ok := l.known[s]; ok {
		return k
	}
	k := make([]bool, l.nodes)
	markKnown(k, l.fields, s.Descriptor())
	l.known[s] = k
	return k
}

func markKnown(k []bool, nodes []*node, md protoreflect.MessageDescriptor) {
	for _, n := range nodes {
		fd := md.Fields().ByNumber(n.fd.Number())
		if fd == nil || fd.Name() != n.fd.Name() {
			continue
		}
		k[n.id] = true
		v := n
		if n.elem != nil {
			v = n.elem
			if fd.IsMap() {
				key, val := v.children[0], v.children[1]
				k[key.id], k[val.id] = true, true
				if val.children != nil {
					markKnown(k, val.children, fd.MapValue().Message())
				}
				continue
			}
		}
		if v.children != nil {
			markKnown(k, v.children, fd.Message())
		}
	}
}

// columns holds the values of a chunk of rows column by column, as the
// Parquet writer's column writers take them: no row needs its values
// sorted by column, whatever order a payload's fields come in.
type columns struct {
	vals [][]parquet.Value
	// arena holds the bytes of values built here (uint64 decimals), which
	// the values alias until the chunk is written.
	arena []byte
}

func (c *columns) put(v parquet.Value, r, d byte, col int) {
	c.vals[col] = append(c.vals[col], v.Level(int(r), int(d), col))
}

// null writes NULL at definition level d to every leaf column of n.
func (c *columns) null(n *node, r, d byte) {
	for col := n.leaf; col < n.leaf+n.leaves; col++ {
		c.vals[col] = append(c.vals[col], parquet.NullValue().Level(int(r), int(d), col))
	}
}

// reset empties the columns for the next chunk, keeping their memory.
func (c *columns) reset() {
	for i := range c.vals {
		c.vals[i] = c.vals[i][:0]
	}
	c.arena = c.arena[:0]
}

// scalar is the value of scalar node n (the wrapped scalar of a wrapper)
// holding v, in both paths.
func (c *columns) scalar(n *node, v protoreflect.Value) parquet.Value {
	switch n.kind {
	case protoreflect.BoolKind:
		return parquet.BooleanValue(v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return parquet.Int64Value(v.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return parquet.Int64Value(int64(v.Uint()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		// DECIMAL(20,0): big-endian two's complement in 9 bytes, the top
		// byte keeping it positive.
		at := len(c.arena)
		c.arena = binary.BigEndian.AppendUint64(append(c.arena, 0), v.Uint())
		return parquet.FixedLenByteArrayValue(c.arena[at:len(c.arena):len(c.arena)])
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return parquet.DoubleValue(v.Float())
	case protoreflect.StringKind:
		return stringValue(v.String())
	case protoreflect.EnumKind:
		return stringValue(contract.EnumValue(n.enum, v.Enum()))
	case protoreflect.BytesKind:
		return parquet.ByteArrayValue(v.Bytes())
	}
	panic(fmt.Sprintf("archive: no Parquet value for %s", n.kind)) // MapFields maps no other kind
}

// stringValue does not copy s: the writer copies values into its buffers.
func stringValue(s string) parquet.Value {
	return parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// shredder writes the typed values of decoded messages: the path of the
// payloads the walker (walk.go) leaves to protobuf-go.
type shredder struct {
	*columns
	known []bool
	err   error
}

// field writes the column of field node n of m; d is the definition level
// of m's group.
func (s *shredder) field(n *node, m protoreflect.Message, r, d byte) {
	if s.known != nil && !s.known[n.id] {
		s.null(n, r, d)
		return
	}
	if n.elem != nil {
		s.repeated(n, m.Get(n.fd), r, d)
		return
	}
	if n.fd.HasPresence() && !m.Has(n.fd) {
		s.null(n, r, d)
		return
	}
	s.value(n, m.Get(n.fd), r, d+1)
}

func (s *shredder) repeated(n *node, v protoreflect.Value, r, d byte) {
	if n.fd.IsMap() {
		s.mapEntries(n, v.Map(), r, d)
		return
	}
	l := v.List()
	if l.Len() == 0 {
		s.null(n, r, d)
		return
	}
	for i := range l.Len() {
		s.value(n.elem, l.Get(i), r, d+1)
		r = n.rep
	}
}

// mapEntries writes the entries of a map in the order of their keys, as
// the walker does (a decoded map has none of its own).
func (s *shredder) mapEntries(n *node, mp protoreflect.Map, r, d byte) {
	if mp.Len() == 0 {
		s.null(n, r, d)
		return
	}
	type entry struct {
		k   mapKey
		key protoreflect.Value
		v   protoreflect.Value
	}
	kind := n.fd.MapKey().Kind()
	entries := make([]entry, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		entries = append(entries, entry{mapKeyOf(kind, k.Value()), k.Value(), v})
		return true
	})
	slices.SortFunc(entries, func(a, b entry) int { return a.k.compare(b.k) })
	key, val := n.elem.children[0], n.elem.children[1]
	for _, e := range entries {
		s.value(key, e.key, r, d+2)
		s.value(val, e.v, r, d+2)
		r = n.rep
	}
}

// value writes a present value of node n at definition level d.
func (s *shredder) value(n *node, v protoreflect.Value, r, d byte) {
	if n.children != nil {
		sub := v.Message()
		for _, c := range n.children {
			s.field(c, sub, r, d)
		}
		return
	}
	var pv parquet.Value
	switch n.col.Type {
	case contract.Timestamp:
		pv = parquet.Int64Value(contract.TimestampValue(v.Message()).UnixMicro())
	case contract.Interval:
		pv = parquet.Int64Value(contract.DurationMicros(v.Message()))
	case contract.Date:
		pv = parquet.Int32Value(int32(contract.DateValue(v.Message()).Unix() / 86400))
	case contract.JSON:
		b, err := contract.JSONValue(v.Message())
		if err != nil {
			s.err = err
		}
		pv = parquet.ByteArrayValue(b)
	default:
		if n.wrapper {
			v, _ = contract.Unwrap(v.Message())
		}
		pv = s.scalar(n, v)
	}
	s.put(pv, r, d, n.leaf)
}

// typer writes the typed columns of one object's rows.
type typer struct {
	l *layout
	columns
	walker walker
	marks  []int // the typed columns' lengths before the row being written
}

func newTyper(l *layout) *typer {
	if t, ok := l.typers.Get().(*typer); ok {
		return t
	}
	t := &typer{l: l, marks: make([]int, l.payload-firstTyped)}
	t.vals = make([][]parquet.Value, l.payload+1)
	t.walker = walker{columns: &t.columns}
	return t
}

// release returns t to its layout's pool, its values dropped (they alias
// the payloads).
func (t *typer) release() {
	for i := range t.vals {
		clear(t.vals[i][:cap(t.vals[i])])
	}
	clear(t.walker.entries[:cap(t.walker.entries)])
	t.reset()
	t.l.typers.Put(t)
}

// firstTyped is the column of the first typed value: the envelope's
// columns come before.
const firstTyped = 8

// typed writes the typed values of one event: its payload decoded with
// the newest descriptor, the fields its own version lacks NULL. A payload
// that does not decode (or a value that does not convert) leaves the
// typed columns NULL; the payload column still holds it.
//
// Payloads wire.Known clears (every field declared, with its wire type
// and a well-formed value) are read straight from their bytes by the
// walker. The rest, and any the walker gives up on, are decoded by
// protobuf-go, which decides exactly what decodes.
func (t *typer) typed(payload []byte, version *contract.Schema) {
	l := t.l
	known := l.knownOf(version)
	for i := range t.marks {
		t.marks[i] = len(t.vals[firstTyped+i])
	}
	if wire.Known(payload, l.newest.Descriptor()) && t.walk(payload, known) {
		return
	}
	t.rollback()
	t.decoded(payload, known)
}

// walk reads the row's values with the walker; false leaves the payload
// to the decoded path.
func (t *typer) walk(payload []byte, known []bool) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return t.walker.row(t.l.plan.top, payload, known) == nil
}

// decoded reads the row's values from the payload decoded by protobuf-go.
func (t *typer) decoded(payload []byte, known []bool) {
	defer func() {
		if recover() != nil {
			t.nulls()
		}
	}()
	m := dynamicpb.NewMessage(t.l.newest.Descriptor())
	if err := wire.Unmarshal(proto.UnmarshalOptions{RecursionLimit: wire.MaxDepth}, payload, m); err != nil {
		t.nulls()
		return
	}
	s := shredder{columns: &t.columns, known: known}
	for _, n := range t.l.fields {
		s.field(n, m, 0, 0)
	}
	if s.err != nil {
		t.nulls()
	}
}

// rollback drops the typed values written for the row.
func (t *typer) rollback() {
	for i, n := range t.marks {
		t.vals[firstTyped+i] = t.vals[firstTyped+i][:n]
	}
}

// nulls replaces the row's typed values with NULLs.
func (t *typer) nulls() {
	t.rollback()
	for _, n := range t.l.fields {
		t.null(n, 0, 0)
	}
}

// orderedGroup is a Parquet group that keeps its fields in the order they
// were added (parquet.Group sorts them by name): the contract's field
// order, as in the warehouse.
type orderedGroup struct {
	parquet.Group
	fields []parquet.Field
}

func (g *orderedGroup) add(name string, n parquet.Node) {
	if g.Group == nil {
		g.Group = parquet.Group{}
	}
	g.Group[name] = n
	g.fields = append(g.fields, namedField{Node: n, name: name})
}

func (g orderedGroup) Fields() []parquet.Field { return g.fields }

// namedField is a field of an orderedGroup.
type namedField struct {
	parquet.Node
	name string
}

func (f namedField) Name() string { return f.name }

// Value is never called: typed objects are written as rows, not Go values.
func (namedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }
