package mapping

import (
	"fmt"
	"reflect"
	"slices"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// headerIndex is a CSV header's column positions, shared by the records of
// one file: built once per header, not per record.
type headerIndex struct {
	header []string
	idx    map[string]int
	cols   []int // position of each Mapping.cols column, -1 when missing
}

// headerIndex returns the index of h, building it when h is a new header.
func (m *Mapping) headerIndex(h []string) *headerIndex {
	if hi := m.hdr.Load(); hi != nil && len(hi.header) == len(h) &&
		(len(h) == 0 || &hi.header[0] == &h[0] || slices.Equal(hi.header, h)) {
		return hi
	}
	hi := &headerIndex{header: h, idx: make(map[string]int, len(h)), cols: make([]int, len(m.cols))}
	for i, name := range h {
		if _, dup := hi.idx[name]; !dup {
			hi.idx[name] = i
		}
	}
	for i, c := range m.cols {
		j, ok := hi.idx[c]
		if !ok {
			j = -1
		}
		hi.cols[i] = j
	}
	m.hdr.Store(hi)
	return hi
}

// csvRow is a CSV record as CEL's row, a map(string, string) read in place
// from the record's values, and the activation that binds it: one
// allocation per record instead of a Go map.
type csvRow struct {
	hi     *headerIndex
	values []string
}

var (
	_ traits.Mapper          = (*csvRow)(nil)
	_ interpreter.Activation = (*csvRow)(nil)
)

func (r *csvRow) ResolveName(name string) (any, bool) {
	if name == "row" {
		return r, true
	}
	return nil, false
}

func (r *csvRow) Parent() interpreter.Activation { return nil }

func (r *csvRow) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.ValOrErr(key, "no such overload"), false
	}
	i, ok := r.hi.idx[string(k)]
	if !ok || i >= len(r.values) {
		return nil, false
	}
	return types.String(r.values[i]), true
}

func (r *csvRow) Get(key ref.Val) ref.Val {
	v, found := r.Find(key)
	if !found {
		if v != nil {
			return v
		}
		return types.NewErr("no such column: %v", key)
	}
	return v
}

func (r *csvRow) Contains(key ref.Val) ref.Val {
	v, found := r.Find(key)
	if !found && v != nil {
		return v
	}
	return types.Bool(found)
}

func (r *csvRow) Size() ref.Val { return types.Int(len(r.hi.header)) }

func (r *csvRow) Iterator() traits.Iterator {
	return &headerIterator{names: r.hi.header}
}

func (r *csvRow) ConvertToNative(t reflect.Type) (any, error) {
	return types.NewStringStringMap(types.DefaultTypeAdapter, r.goMap()).ConvertToNative(t)
}

func (r *csvRow) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return r
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to %s", t)
}

func (r *csvRow) Equal(other ref.Val) ref.Val {
	return types.NewStringStringMap(types.DefaultTypeAdapter, r.goMap()).Equal(other)
}

func (r *csvRow) Type() ref.Type { return types.MapType }

func (r *csvRow) Value() any { return r.goMap() }

func (r *csvRow) goMap() map[string]string {
	m := make(map[string]string, len(r.hi.header))
	for name, i := range r.hi.idx {
		if i < len(r.values) {
			m[name] = r.values[i]
		}
	}
	return m
}

type headerIterator struct {
	names []string
	i     int
}

func (it *headerIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.names)) }

func (it *headerIterator) Next() ref.Val {
	if it.i >= len(it.names) {
		return nil
	}
	it.i++
	return types.String(it.names[it.i-1])
}

func (it *headerIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}

func (it *headerIterator) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("no such overload")
}

func (it *headerIterator) Equal(ref.Val) ref.Val { return types.NewErr("no such overload") }

func (it *headerIterator) Type() ref.Type { return types.IteratorType }

func (it *headerIterator) Value() any { return nil }

// objectRow binds a JSON or Parquet record's fields as row.
type objectRow struct{ obj map[string]any }

func (r *objectRow) ResolveName(name string) (any, bool) {
	if name == "row" {
		return r.obj, true
	}
	return nil, false
}

func (r *objectRow) Parent() interpreter.Activation { return nil }
