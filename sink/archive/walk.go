package archive

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"slices"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/wire"
)

// The walker reads the typed columns' values straight from payload bytes,
// as the BigQuery sink's row encoder does: no message is decoded, and a
// row costs about one pass over its payload. It reads payloads wire.Known
// cleared (declared fields with their wire types and well-formed values),
// and gives up, for the decoded path to decide, on what it would have to
// merge: a singular message field that occurs twice, a map entry whose
// message value does. Values go through the conversions the decoded path
// uses (columns.scalar, the contract's *Of functions) from the
// protoreflect.Value protobuf-go would decode; strings, bytes, int32s,
// int64s and known enum numbers, most of a row, are read to the same
// Parquet values directly (TestWalkerMatchesDecodedPath, FuzzWalker).

// errWalk is the walker giving up on a payload: the decoded path takes it.
var errWalk = errors.New("archive: payload left to the decoded path")

// plan is how the walker reads one layout's rows, compiled once per layout.
type plan struct {
	top *msgPlan
}

// msgPlan reads the columns of one message.
type msgPlan struct {
	fields []fieldPlan // in column order; then the oneof members without a column
	cols   int         // fields with a column: fields[:cols]
	dense  []int16     // by field number: index into fields + 1
	sparse map[protowire.Number]int
}

func (p *msgPlan) index(num protowire.Number) int {
	if int(num) < len(p.dense) {
		return int(p.dense[num]) - 1
	}
	if i, ok := p.sparse[num]; ok {
		return i
	}
	return -1
}

// fieldPlan reads one field of a message.
type fieldPlan struct {
	n        *node // the field's column; nil for a oneof member without one
	num      protowire.Number
	message  bool // a singular message: a second occurrence would merge
	repeated bool
	isMap    bool
	presence bool
	clears   []int         // the other members of its oneof
	zero     parquet.Value // an absent singular scalar without presence
	val      *valuePlan    // of the field (of each element if repeated)
	key, mv  *valuePlan    // a map entry's key and value
}

// op is how a valuePlan reads its value.
type op uint8

const (
	opScalar op = iota // decode, then columns.scalar
	opBytes            // string or bytes: the contents, as columns.scalar gives them
	opInt64            // int64: the varint, as columns.scalar gives it
	opInt32            // int32: the varint sign-extended, as columns.scalar gives it
	opEnum
	opWrapper
	opRecord
	opTimestamp
	opInterval
	opDate
	opJSON
)

// valuePlan reads one value of node n.
type valuePlan struct {
	n     *node
	op    op
	wt    protowire.Type // of the value on the wire
	inner protowire.Type // of a wrapper's value
	// zero is an absent scalar (a map entry's, a wrapper's value).
	zero  parquet.Value
	sub   *msgPlan                       // records
	md    protoreflect.MessageDescriptor // JSON columns
	names []parquet.Value                // enums: by number, from 0
}

func newPlan(fields []*node, md protoreflect.MessageDescriptor) plan {
	return plan{top: newMsgPlan(fields, md)}
}

func newMsgPlan(nodes []*node, md protoreflect.MessageDescriptor) *msgPlan {
	p := &msgPlan{sparse: map[protowire.Number]int{}}
	var plain columns // for the zero values, which alias their own bytes
	for _, n := range nodes {
		fd := n.fd
		f := fieldPlan{n: n, num: fd.Number(), repeated: fd.IsList(), isMap: fd.IsMap(), presence: fd.HasPresence()}
		switch {
		case f.isMap:
			e := n.elem
			f.key = newValuePlan(e.children[0], fd.MapKey())
			f.mv = newValuePlan(e.children[1], fd.MapValue())
		case f.repeated:
			f.val = newValuePlan(n.elem, fd)
		default:
			f.message = fd.Message() != nil
			f.val = newValuePlan(n, fd)
			if !f.message {
				f.zero = plain.scalar(n, fd.Default())
			}
		}
		p.fields = append(p.fields, f)
	}
	p.cols = len(p.fields)
	// A oneof member without a column still clears the member set before it.
	oneofs := md.Oneofs()
	for i := range oneofs.Len() {
		od := oneofs.Get(i)
		if od.IsSynthetic() {
			continue
		}
		var members []int
		for j := range od.Fields().Len() {
			fd := od.Fields().Get(j)
			at := slices.IndexFunc(p.fields, func(f fieldPlan) bool { return f.num == fd.Number() })
			if at < 0 {
				at = len(p.fields)
				p.fields = append(p.fields, fieldPlan{num: fd.Number()})
			}
			members = append(members, at)
		}
		for _, m := range members {
			p.fields[m].clears = slices.DeleteFunc(slices.Clone(members), func(o int) bool { return o == m })
		}
	}
	for i, f := range p.fields {
		if f.num < 256 {
			for len(p.dense) <= int(f.num) {
				p.dense = append(p.dense, 0)
			}
			p.dense[f.num] = int16(i + 1)
		} else {
			p.sparse[f.num] = i
		}
	}
	return p
}

// maxNames bounds the enum numbers whose names a plan holds.
const maxNames = 256

// newValuePlan plans the values of node n, held in fd (ignoring its
// cardinality).
func newValuePlan(n *node, fd protoreflect.FieldDescriptor) *valuePlan {
	v := &valuePlan{n: n, wt: wireType(fd.Kind())}
	var plain columns
	switch {
	case n.children != nil:
		v.op, v.sub = opRecord, newMsgPlan(n.children, fd.Message())
	case n.wrapper:
		inner := fd.Message().Fields().ByNumber(1)
		v.op, v.inner, v.zero = opWrapper, wireType(inner.Kind()), plain.scalar(n, inner.Default())
	case fd.Message() != nil:
		v.md = fd.Message()
		switch n.col.Type {
		case contract.Timestamp:
			v.op = opTimestamp
		case contract.Interval:
			v.op = opInterval
		case contract.Date:
			v.op = opDate
		default:
			v.op = opJSON
		}
	default:
		if !fd.IsList() {
			v.zero = plain.scalar(n, fd.Default())
		}
		switch n.kind {
		case protoreflect.StringKind, protoreflect.BytesKind:
			v.op = opBytes
		case protoreflect.Int64Kind:
			v.op = opInt64
		case protoreflect.Int32Kind:
			v.op = opInt32
		case protoreflect.EnumKind:
			v.op = opEnum
			values := n.enum.Values()
			for i := range values.Len() {
				if num := values.Get(i).Number(); num >= 0 && num < maxNames && int(num) >= len(v.names) {
					v.names = slices.Grow(v.names, int(num)+1-len(v.names))[:num+1]
				}
			}
			for i := range v.names {
				v.names[i] = plain.scalar(n, protoreflect.ValueOfEnum(protoreflect.EnumNumber(i)))
			}
		}
	}
	return v
}

// wireType is the wire type of an unpacked value of kind k.
func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	}
	return protowire.VarintType
}

// walker reads rows' typed values into columns; it is reused across the
// rows of an object, its scratch stacks kept.
type walker struct {
	*columns
	known   []bool
	slots   []slot  // of the messages being walked, a stack
	entries []entry // of the maps of the messages being walked, a stack
}

// slot is the last occurrence of a singular field, or the count of a
// repeated field's values, in the message being walked. It holds no
// pointer: a length-delimited value is where it is in the message.
type slot struct {
	u        uint64 // a scalar's bits
	at, size int32  // a length-delimited value's contents in the message
	n        int32
	set      bool
}

// entry is one map entry on the wire.
type entry struct {
	field  int // index in the message's plan
	key    mapKey
	keyRaw protoreflect.Value
	hasVal bool
	u      uint64 // the value's bits or contents
	b      []byte
}

// row writes the typed values of one payload (top-level message bytes).
func (w *walker) row(p *msgPlan, payload []byte, known []bool) error {
	if len(payload) > math.MaxInt32 { // slots hold int32 offsets
		return errWalk
	}
	w.known, w.slots, w.entries = known, w.slots[:0], w.entries[:0]
	return w.message(p, payload, 0, 0)
}

// message writes the columns of one message of p from its bytes msg; r
// and d are the levels of the message's group.
func (w *walker) message(p *msgPlan, msg []byte, r, d byte) error {
	base, entBase := len(w.slots), len(w.entries)
	w.slots = append(w.slots, make([]slot, len(p.fields))...)
	src := msg
	for len(src) > 0 {
		num, typ, n := protowire.ConsumeTag(src)
		if n < 0 {
			return errWalk
		}
		src = src[n:]
		n = protowire.ConsumeFieldValue(num, typ, src)
		if n < 0 {
			return errWalk
		}
		raw := src[:n]
		src = src[n:]
		i := p.index(num)
		if i < 0 {
			continue
		}
		f := &p.fields[i]
		for _, j := range f.clears {
			w.slots[base+j] = slot{}
		}
		if f.n == nil {
			continue
		}
		if w.known != nil && !w.known[f.n.id] {
			continue
		}
		switch {
		case f.isMap:
			if err := w.mapEntry(f, i, typ, raw); err != nil {
				return err
			}
		case f.repeated:
			if err := w.elements(f, base+i, typ, raw, r, d); err != nil {
				return err
			}
		default:
			s := &w.slots[base+i]
			if f.message && s.set {
				return errWalk // merges with the occurrence before
			}
			u, b, ok := scalar(f.val.wt, typ, raw)
			if !ok {
				return errWalk
			}
			*s = slot{u: u, set: true}
			if b != nil {
				s.at, s.size = int32(len(msg)-len(src)-len(b)), int32(len(b))
			}
		}
	}
	if len(w.entries) > entBase+1 {
		slices.SortStableFunc(w.entries[entBase:], func(a, b entry) int {
			return cmp.Or(cmp.Compare(a.field, b.field), a.key.compare(b.key))
		})
	}
	at := entBase
	for i := range p.fields[:p.cols] {
		f := &p.fields[i]
		n := f.n
		if w.known != nil && !w.known[n.id] {
			w.null(n, r, d)
			continue
		}
		switch {
		case f.isMap:
			end := at
			for end < len(w.entries) && w.entries[end].field == i {
				end++
			}
			if err := w.mapEntries(f, at, end, r, d); err != nil {
				return err
			}
			at = end
		case f.repeated:
			if w.slots[base+i].n == 0 {
				w.null(n, r, d)
			}
		default:
			s := w.slots[base+i]
			switch {
			case s.set:
				if err := w.value(f.val, s.u, msg[s.at:s.at+s.size], r, d+1); err != nil {
					return err
				}
			case f.presence:
				w.null(n, r, d)
			default:
				w.put(f.zero, r, d+1, n.leaf)
			}
		}
	}
	w.slots, w.entries = w.slots[:base], w.entries[:entBase]
	return nil
}

// scalar reads one value of wire type want: its bits u, or the contents
// b of a length-delimited value (never nil then).
func scalar(want, typ protowire.Type, raw []byte) (u uint64, b []byte, ok bool) {
	if typ != want {
		return 0, nil, false
	}
	var n int
	switch typ {
	case protowire.BytesType:
		b, n = protowire.ConsumeBytes(raw)
		if b == nil {
			b = raw[:0]
		}
	case protowire.Fixed32Type:
		var x uint32
		x, n = protowire.ConsumeFixed32(raw)
		u = uint64(x)
	case protowire.Fixed64Type:
		u, n = protowire.ConsumeFixed64(raw)
	case protowire.VarintType:
		u, n = protowire.ConsumeVarint(raw)
	default:
		return 0, nil, false
	}
	return u, b, n >= 0
}

// elements writes the values of one occurrence of a repeated field (one
// element, or packed scalars); slot s counts the values so far.
func (w *walker) elements(f *fieldPlan, s int, typ protowire.Type, raw []byte, r, d byte) error {
	v := f.val
	if typ == protowire.BytesType && v.wt != protowire.BytesType { // packed
		b, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			return errWalk
		}
		for len(b) > 0 {
			var u uint64
			switch v.wt {
			case protowire.Fixed32Type:
				var x uint32
				x, n = protowire.ConsumeFixed32(b)
				u = uint64(x)
			case protowire.Fixed64Type:
				u, n = protowire.ConsumeFixed64(b)
			case protowire.VarintType:
				u, n = protowire.ConsumeVarint(b)
			default:
				return errWalk
			}
			if n < 0 {
				return errWalk
			}
			b = b[n:]
			if w.slots[s].n++; w.slots[s].n > 1 {
				r = f.n.rep
			}
			if err := w.value(v, u, nil, r, d+1); err != nil {
				return err
			}
		}
		return nil
	}
	u, b, ok := scalar(v.wt, typ, raw)
	if !ok {
		return errWalk
	}
	if w.slots[s].n++; w.slots[s].n > 1 {
		r = f.n.rep
	}
	return w.value(v, u, b, r, d+1)
}

// mapEntry reads one entry of map field f (index i in its message's plan).
func (w *walker) mapEntry(f *fieldPlan, i int, typ protowire.Type, raw []byte) error {
	if typ != protowire.BytesType {
		return errWalk
	}
	b, n := protowire.ConsumeBytes(raw)
	if n < 0 {
		return errWalk
	}
	e := entry{field: i, keyRaw: decode(f.key.n.kind, 0, nil)}
	if f.key.n.kind == protoreflect.StringKind {
		e.keyRaw = protoreflect.ValueOfString("")
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errWalk
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return errWalk
		}
		raw := b[:n]
		b = b[n:]
		switch num {
		case 1:
			u, kb, ok := scalar(f.key.wt, typ, raw)
			if !ok {
				return errWalk
			}
			e.keyRaw = decode(f.key.n.kind, u, kb)
		case 2:
			if e.hasVal && f.mv.op == opRecord {
				return errWalk // merges with the value before
			}
			u, vb, ok := scalar(f.mv.wt, typ, raw)
			if !ok {
				return errWalk
			}
			e.hasVal, e.u, e.b = true, u, vb
		}
	}
	e.key = mapKeyOf(f.key.n.kind, e.keyRaw)
	w.entries = append(w.entries, e)
	return nil
}

// mapEntries writes the entries [at, end) of map field f, sorted by key:
// of equal keys the last, as decoding keeps.
func (w *walker) mapEntries(f *fieldPlan, at, end int, r, d byte) error {
	if at == end {
		w.null(f.n, r, d)
		return nil
	}
	for i := at; i < end; i++ {
		e := w.entries[i]
		if i+1 < end && w.entries[i+1].key.compare(e.key) == 0 {
			continue
		}
		w.put(w.scalar(f.key.n, e.keyRaw), r, d+2, f.key.n.leaf)
		var err error
		switch {
		case e.hasVal:
			err = w.value(f.mv, e.u, e.b, r, d+2)
		case f.mv.wt == protowire.BytesType && f.mv.op != opBytes:
			err = w.value(f.mv, 0, nil, r, d+2) // an empty message
		default:
			w.put(f.mv.zero, r, d+2, f.mv.n.leaf)
		}
		if err != nil {
			return err
		}
		r = f.n.rep
	}
	return nil
}

// value writes a present value of v: its scalar bits u or its bytes b.
func (w *walker) value(v *valuePlan, u uint64, b []byte, r, d byte) error {
	n := v.n
	var pv parquet.Value
	switch v.op {
	case opBytes:
		pv = parquet.ByteArrayValue(b)
	case opInt64:
		pv = parquet.Int64Value(int64(u))
	case opInt32:
		pv = parquet.Int64Value(int64(int32(u)))
	case opEnum:
		if e := int32(u); e >= 0 && int(e) < len(v.names) {
			pv = v.names[e]
		} else {
			pv = w.scalar(n, decode(n.kind, u, b))
		}
	case opScalar:
		pv = w.scalar(n, decode(n.kind, u, b))
	case opRecord:
		return w.message(v.sub, b, r, d)
	case opTimestamp:
		secs, nanos, err := wkt2(b)
		if err != nil {
			return err
		}
		pv = parquet.Int64Value(contract.TimestampOf(secs, int64(nanos)).UnixMicro())
	case opInterval:
		secs, nanos, err := wkt2(b)
		if err != nil {
			return err
		}
		pv = parquet.Int64Value(contract.DurationMicrosOf(secs, int64(nanos)))
	case opDate:
		ymd, err := date(b)
		if err != nil {
			return err
		}
		pv = parquet.Int32Value(int32(contract.DateOf(ymd[0], ymd[1], ymd[2]).Unix() / 86400))
	case opJSON:
		m := dynamicpb.NewMessage(v.md)
		if err := wire.Unmarshal(proto.UnmarshalOptions{RecursionLimit: wire.MaxDepth}, b, m); err != nil {
			return errWalk
		}
		text, err := contract.JSONValue(m)
		if err != nil {
			return errWalk
		}
		pv = parquet.ByteArrayValue(text)
	case opWrapper:
		pv = v.zero
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return errWalk
			}
			b = b[n:]
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errWalk
			}
			if num == 1 {
				u, vb, ok := scalar(v.inner, typ, b[:n])
				if !ok {
					return errWalk
				}
				pv = w.scalar(v.n, decode(v.n.kind, u, vb))
			}
			b = b[n:]
		}
	}
	w.put(pv, r, d, n.leaf)
	return nil
}

// wkt2 reads the int64 field 1 and int32 field 2 of a Timestamp or
// Duration (seconds and nanos).
func wkt2(b []byte) (secs int64, nanos int32, err error) {
	var f [3]uint64
	if err := varints(b, f[:]); err != nil {
		return 0, 0, err
	}
	return int64(f[1]), int32(f[2]), nil
}

// date reads the int32 fields year, month and day of a google.type.Date.
func date(b []byte) ([3]int64, error) {
	var f [4]uint64
	err := varints(b, f[:])
	return [3]int64{int64(int32(f[1])), int64(int32(f[2])), int64(int32(f[3]))}, err
}

// varints reads the varint fields numbered 1 to len(f)-1 of a message
// into f (the last occurrence of each); other fields are skipped.
func varints(b []byte, f []uint64) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errWalk
		}
		b = b[n:]
		if num > 0 && int(num) < len(f) {
			if typ != protowire.VarintType {
				return errWalk
			}
			f[num], n = protowire.ConsumeVarint(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errWalk
		}
		b = b[n:]
	}
	return nil
}

// decode is the value protobuf-go decodes from the wire bits u (or bytes
// b) of a scalar of kind k.
func decode(k protoreflect.Kind, u uint64, b []byte) protoreflect.Value {
	switch k {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(protowire.DecodeBool(u))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(int32(u)))
	case protoreflect.Int32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(u))
	case protoreflect.Sint32Kind:
		return protoreflect.ValueOfInt32(int32(protowire.DecodeZigZag(u & math.MaxUint32)))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(u))
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(u))
	case protoreflect.Sint64Kind:
		return protoreflect.ValueOfInt64(protowire.DecodeZigZag(u))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(u)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(math.Float32frombits(uint32(u)))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(math.Float64frombits(u))
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(unsafe.String(unsafe.SliceData(b), len(b)))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(b)
	}
	return protoreflect.Value{}
}

// mapKey is a map key in an order of its kind: bytes for strings, else a
// number whose unsigned order is the key's (signed keys have their sign
// bit flipped).
type mapKey struct {
	s []byte
	u uint64
}

func (k mapKey) compare(o mapKey) int {
	return cmp.Or(bytes.Compare(k.s, o.s), cmp.Compare(k.u, o.u))
}

// mapKeyOf is the order of key v of kind k.
func mapKeyOf(k protoreflect.Kind, v protoreflect.Value) mapKey {
	switch k {
	case protoreflect.StringKind:
		s := v.String()
		return mapKey{s: unsafe.Slice(unsafe.StringData(s), len(s))}
	case protoreflect.BoolKind:
		if v.Bool() {
			return mapKey{u: 1}
		}
		return mapKey{}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return mapKey{u: v.Uint()}
	}
	return mapKey{u: uint64(v.Int()) ^ 1<<63}
}
