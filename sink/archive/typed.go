package archive

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"buf.build/go/hyperpb"
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
// schema and the plan that shreds a decoded message into its columns.
type layout struct {
	newest  *contract.Schema
	parser  *hyperpb.MessageType // decodes payloads with the newest descriptor
	schema  *parquet.Schema
	fields  []*node // the typed top-level columns
	nodes   int     // fields and their descendants, for known
	payload int     // column index of payload
	sorted  bool    // a LIST holds groups: a row's values need sorting by column
	untyped []string

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
	l := &layout{newest: newest, parser: hyperpb.CompileMessageDescriptor(newest.Descriptor()), known: map[*contract.Schema][]bool{}}
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
		b.l.sorted = b.l.sorted || e.leaves > 1
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

// shredder turns decoded messages into the typed values of rows, one at
// a time; it is reused across the rows of an object.
type shredder struct {
	known []bool
	row   parquet.Row
	err   error
	entry func(protoreflect.MapKey, protoreflect.Value) bool // s.mapEntry, bound once
	m     mapState                                           // of the map entry ranges
}

// mapState is where the entries of the map being ranged go.
type mapState struct {
	n     *node
	r, d  byte
	first bool
}

func newShredder() *shredder {
	s := &shredder{}
	s.entry = s.mapEntry
	return s
}

func (s *shredder) null(n *node, r, d byte) {
	for c := n.leaf; c < n.leaf+n.leaves; c++ {
		s.row = append(s.row, parquet.NullValue().Level(int(r), int(d), c))
	}
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
		mp := v.Map()
		if mp.Len() == 0 {
			s.null(n, r, d)
			return
		}
		outer := s.m // a map in a map's values ranges inside this one
		s.m = mapState{n: n, r: r, d: d, first: true}
		mp.Range(s.entry)
		s.m = outer
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

// mapEntry writes one entry of the map s.m is ranging.
func (s *shredder) mapEntry(k protoreflect.MapKey, v protoreflect.Value) bool {
	m := &s.m
	e := m.n.elem
	s.value(e.children[0], k.Value(), m.r, m.d+2)
	s.value(e.children[1], v, m.r, m.d+2)
	if m.first {
		m.r, m.first = m.n.rep, false
	}
	return s.err == nil
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
		pv = scalarValue(n, v)
	}
	s.row = append(s.row, pv.Level(int(r), int(d), n.leaf))
}

func scalarValue(n *node, v protoreflect.Value) parquet.Value {
	switch n.kind {
	case protoreflect.BoolKind:
		return parquet.BooleanValue(v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return parquet.Int64Value(v.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return parquet.Int64Value(int64(v.Uint()))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		var b [9]byte // big-endian two's complement; the top byte keeps it positive
		binary.BigEndian.PutUint64(b[1:], v.Uint())
		return parquet.FixedLenByteArrayValue(b[:])
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

// typed appends the typed values of one event to row: its payload decoded
// with the newest descriptor, the fields its own version lacks NULL. A
// payload that does not decode (or a value that does not convert) leaves
// the typed columns NULL; the payload column still holds it.
//
// As in the processor, payloads wire.Known clears are decoded by hyperpb
// into shared, an arena of this row alone (hyperpb parses one message tree
// per arena) that the caller frees once the row is written: the values may
// alias it. The rest is decoded by protobuf-go.
func (l *layout) typed(s *shredder, row parquet.Row, payload []byte, version *contract.Schema, arena *rowArena) (out parquet.Row) {
	*s = shredder{known: l.knownOf(version), row: row, entry: s.entry}
	start := len(row)
	defer func() {
		if r := recover(); r != nil {
			out = l.nulls(row[:start])
		}
	}()
	var m protoreflect.Message
	if wire.Known(payload, l.newest.Descriptor()) {
		hm := arena.newMessage(l.parser)
		if err := hm.Unmarshal(payload, hyperpb.WithMaxDepth(wire.MaxDepth), hyperpb.WithAllowAlias(true)); err == nil {
			m = hm
		}
	}
	if m == nil {
		dm := dynamicpb.NewMessage(l.newest.Descriptor())
		if err := wire.Unmarshal(proto.UnmarshalOptions{RecursionLimit: wire.MaxDepth}, payload, dm); err != nil {
			return l.nulls(row)
		}
		m = dm
	}
	for _, n := range l.fields {
		s.field(n, m, 0, 0)
	}
	if s.err != nil {
		return l.nulls(row[:start])
	}
	return s.row
}

// rowArena is the hyperpb arena of one row's message. hyperpb's Free
// panics on an arena that never allocated (a row whose payload was not
// decoded by hyperpb), so it frees only one that was used.
type rowArena struct {
	shared hyperpb.Shared
	used   bool
}

func (a *rowArena) newMessage(t *hyperpb.MessageType) *hyperpb.Message {
	a.used = true
	return a.shared.NewMessage(t)
}

func (a *rowArena) free() {
	if a.used {
		a.shared.Free()
		a.used = false
	}
}

func (l *layout) nulls(row parquet.Row) parquet.Row {
	s := shredder{row: row}
	for _, n := range l.fields {
		s.null(n, 0, 0)
	}
	return s.row
}

// sorter orders a row's values by column, which lists of groups emit
// element by element: a counting sort, stable, in time linear in the row.
type sorter struct {
	count   []int
	scratch parquet.Row
}

// sort orders row, whose columns are in [first, first+len(count)).
func (s *sorter) sort(row parquet.Row, first int) {
	clear(s.count)
	for _, v := range row {
		s.count[v.Column()-first]++
	}
	at := 0
	for i, n := range s.count {
		s.count[i] = at
		at += n
	}
	s.scratch = slices.Grow(s.scratch[:0], len(row))[:len(row)]
	for _, v := range row {
		c := v.Column() - first
		s.scratch[s.count[c]] = v
		s.count[c]++
	}
	copy(row, s.scratch)
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
