package mapping

import (
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	celfn "cel.dev/cel-go/common/functions"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// The native path computes the expressions a CSV mapping commonly holds
// without the CEL interpreter: column reads (row.x, row["x"]), string
// literals, trim, concatenation, string equality, a constant map indexed by
// a string, the helpers decimal, scaled and date with constant arguments,
// and any other function of the environment with one overload, through
// CEL's own binding. It gives the value CEL would give, through the same
// code, and only when that succeeds: a missing column, a key the map lacks
// or a value a function refuses goes to the CEL program, so errors are
// CEL's, word for word (FuzzNativeMatchesCEL holds the two paths to the
// same payloads and errors). An expression with anything else runs its
// CEL program only.
//
// Nodes that give strings (nstring) pass them unboxed; the others give
// CEL values (nvalue).
type (
	nvalue interface {
		value(hi *headerIndex, values []string) (ref.Val, bool)
	}
	nstring interface {
		str(hi *headerIndex, values []string) (string, bool)
	}
)

// nativeCompiler turns checked CEL expressions into native nodes.
type nativeCompiler struct {
	ast *celast.AST
	// col gives a column's slot in Mapping.cols.
	col func(name string) int
	// overloads are the environment's function bindings by overload id,
	// as CEL's dispatcher holds them.
	overloads map[string]*celfn.Overload
}

// nativeOf returns the native form of a checked expression, nil when some
// part of it has none.
func (nc *nativeCompiler) nativeOf(ast *cel.Ast) nvalue {
	nc.ast = ast.NativeRep()
	return nc.value(nc.ast.Expr())
}

func (nc *nativeCompiler) value(e celast.Expr) nvalue {
	if s := nc.str(e); s != nil {
		return boxed{s}
	}
	switch e.Kind() {
	case celast.LiteralKind:
		return constant{e.AsLiteral()}
	case celast.CallKind:
	default:
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	if call.IsMemberFunction() {
		args = append([]celast.Expr{call.Target()}, args...)
	}
	switch fn := call.FunctionName(); fn {
	case operators.Equals, operators.NotEquals:
		a, b := nc.str(args[0]), nc.str(args[1])
		if a == nil || b == nil {
			return nil
		}
		return equal{a: a, b: b, not: fn == operators.NotEquals}
	case operators.Index:
		m := constantMap(args[0])
		k := nc.str(args[1])
		if m == nil || k == nil {
			return nil
		}
		return index{m: m, key: k}
	case "decimal", "scaled", "date":
		return nc.helper(fn, args)
	case overloads.TypeConvertTimestamp:
		// timestamp(string), the standard library's conversion without
		// boxing the string first.
		if ids := nc.ast.GetOverloadIDs(e.ID()); len(ids) == 1 && ids[0] == overloads.StringToTimestamp && len(args) == 1 {
			if s := nc.str(args[0]); s != nil {
				return stringTimestamp{s}
			}
		}
	case operators.LogicalAnd, operators.LogicalOr, operators.Conditional, operators.OptIndex, operators.OptSelect:
		return nil // not strict in their arguments: CEL only
	}
	return nc.call(e, args)
}

// call is a function with one overload, computed by its CEL binding.
func (nc *nativeCompiler) call(e celast.Expr, args []celast.Expr) nvalue {
	call := e.AsCall()
	ids := nc.ast.GetOverloadIDs(e.ID())
	if len(ids) != 1 {
		return nil
	}
	// As CEL's planner finds it: by overload id, else by name (a
	// singleton binding).
	fn := nc.overloads[ids[0]]
	if fn == nil {
		fn = nc.overloads[call.FunctionName()]
	}
	if fn == nil || fn.Async != nil || fn.NonStrict || interpreted[call.FunctionName()] {
		return nil
	}
	c := callN{fn: fn, args: make([]nvalue, len(args))}
	for i, a := range args {
		if c.args[i] = nc.value(a); c.args[i] == nil {
			return nil
		}
	}
	switch {
	case len(args) == 1 && fn.Unary != nil:
	case len(args) == 2 && fn.Binary != nil:
	case len(args) > 0 && fn.Function != nil && fn.Unary == nil && fn.Binary == nil:
	default:
		return nil
	}
	return c
}

func (nc *nativeCompiler) str(e celast.Expr) nstring {
	if col, ok := rowColumn(e); ok {
		return column{slot: nc.col(col)}
	}
	if s, ok := literalString(e); ok {
		return literal(s)
	}
	if e.Kind() != celast.CallKind {
		return nil
	}
	call := e.AsCall()
	ids := nc.ast.GetOverloadIDs(e.ID())
	if len(ids) != 1 {
		return nil
	}
	switch {
	case ids[0] == "string_trim" && call.IsMemberFunction() && len(call.Args()) == 0:
		if x := nc.str(call.Target()); x != nil {
			return trim{x}
		}
	case ids[0] == overloads.AddString && len(call.Args()) == 2:
		a, b := nc.str(call.Args()[0]), nc.str(call.Args()[1])
		if a != nil && b != nil {
			return concat{slices.Concat(parts(a), parts(b))}
		}
	}
	return nil
}

// parts are the strings s joins: a chain of + is one concat, built in
// one allocation.
func parts(s nstring) []nstring {
	if c, ok := s.(concat); ok {
		return c.parts
	}
	return []nstring{s}
}

// helper is decimal, scaled or date over a string, its other arguments
// constant.
func (nc *nativeCompiler) helper(fn string, args []celast.Expr) nvalue {
	if len(args) < 2 || len(args) > 3 {
		return nil
	}
	arg := nc.str(args[0])
	if arg == nil {
		return nil
	}
	h := &helper{arg: arg}
	switch fn {
	case "decimal":
		sep, ok := literalString(args[1])
		if !ok || len(args) != 2 {
			return nil
		}
		h.kind, h.sep = nativeDecimal, sep
	case "scaled":
		scale, ok := literalInt(args[1])
		if !ok {
			return nil
		}
		sep := "."
		if len(args) == 3 {
			if sep, ok = literalString(args[2]); !ok {
				return nil
			}
		}
		h.kind, h.scale, h.sep = nativeScaled, scale, sep
	case "date":
		lay, ok := literalString(args[1])
		if !ok {
			return nil
		}
		zone := "UTC"
		if len(args) == 3 {
			if zone, ok = literalString(args[2]); !ok {
				return nil
			}
		}
		// The same layout and zone the helper finds at run time (Compile
		// checked, and so cached, both).
		l, err := compileLayout(lay, false)
		if err != nil {
			return nil
		}
		loc, err := location(zone, true)
		if err != nil {
			return nil
		}
		h.kind, h.layout, h.loc = nativeDate, l, loc
	}
	return h
}

// interpreted are the functions CEL's planner compiles ahead for constant
// arguments (a regular expression): their bindings would redo that for
// every record.
var interpreted = map[string]bool{overloads.Matches: true}

// bindings returns env's function bindings by overload id.
func bindings(env *cel.Env) map[string]*celfn.Overload {
	m := map[string]*celfn.Overload{}
	for _, fd := range env.Functions() {
		bs, err := fd.Bindings()
		if err != nil {
			continue
		}
		for _, b := range bs {
			m[b.Operator] = b
		}
	}
	return m
}

// rowColumn recognizes row.x and row["x"].
func rowColumn(e celast.Expr) (string, bool) {
	isRow := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "row" }
	switch e.Kind() {
	case celast.SelectKind:
		if s := e.AsSelect(); !s.IsTestOnly() && isRow(s.Operand()) {
			return s.FieldName(), true
		}
	case celast.CallKind:
		if call := e.AsCall(); call.FunctionName() == operators.Index && len(call.Args()) == 2 && isRow(call.Args()[0]) {
			return literalString(call.Args()[1])
		}
	}
	return "", false
}

// constantMap is a map literal of string keys and literal values, nil for
// anything else (a repeated key, which CEL refuses, included).
func constantMap(e celast.Expr) map[string]ref.Val {
	if e.Kind() != celast.MapKind {
		return nil
	}
	entries := e.AsMap().Entries()
	m := make(map[string]ref.Val, len(entries))
	for _, en := range entries {
		if en.Kind() != celast.MapEntryKind {
			return nil
		}
		me := en.AsMapEntry()
		k, ok := literalString(me.Key())
		if !ok || me.IsOptional() || me.Value().Kind() != celast.LiteralKind {
			return nil
		}
		if _, dup := m[k]; dup {
			return nil
		}
		m[k] = me.Value().AsLiteral()
	}
	return m
}

func literalString(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

func literalInt(e celast.Expr) (int64, bool) {
	if e.Kind() != celast.LiteralKind {
		return 0, false
	}
	i, ok := e.AsLiteral().(types.Int)
	return int64(i), ok
}

// column is a column's text; missing, CEL answers (no such key).
type column struct{ slot int }

func (c column) str(hi *headerIndex, values []string) (string, bool) {
	i := hi.cols[c.slot]
	if i < 0 || i >= len(values) {
		return "", false
	}
	return values[i], true
}

type literal string

func (l literal) str(*headerIndex, []string) (string, bool) { return string(l), true }

// trim is ext.Strings' trim (string_trim): strings.TrimSpace.
type trim struct{ x nstring }

func (t trim) str(hi *headerIndex, values []string) (string, bool) {
	s, ok := t.x.str(hi, values)
	return strings.TrimSpace(s), ok
}

// concat is + of strings (add_string), a chain of them at once.
type concat struct{ parts []nstring }

func (c concat) str(hi *headerIndex, values []string) (string, bool) {
	var buf [8]string
	ss, n := buf[:0], 0
	for _, p := range c.parts {
		s, ok := p.str(hi, values)
		if !ok {
			return "", false
		}
		ss, n = append(ss, s), n+len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range ss {
		b.WriteString(s)
	}
	return b.String(), true
}

// boxed is a string node as a CEL value.
type boxed struct{ s nstring }

func (b boxed) value(hi *headerIndex, values []string) (ref.Val, bool) {
	s, ok := b.s.str(hi, values)
	if !ok {
		return nil, false
	}
	return types.String(s), true
}

// stringTimestamp is timestamp(string) (string_to_timestamp), as the
// standard library's binding computes it.
type stringTimestamp struct{ s nstring }

func (t stringTimestamp) value(hi *headerIndex, values []string) (ref.Val, bool) {
	s, ok := t.s.str(hi, values)
	if !ok {
		return nil, false
	}
	out := types.String(s).ConvertToType(types.TimestampType)
	if types.IsUnknownOrError(out) {
		return nil, false
	}
	return out, true
}

type constant struct{ v ref.Val }

func (c constant) value(*headerIndex, []string) (ref.Val, bool) { return c.v, true }

// equal is == (or !=) of two strings, as types.Equal compares them.
type equal struct {
	a, b nstring
	not  bool
}

func (e equal) value(hi *headerIndex, values []string) (ref.Val, bool) {
	a, ok := e.a.str(hi, values)
	if !ok {
		return nil, false
	}
	b, ok := e.b.str(hi, values)
	if !ok {
		return nil, false
	}
	return types.Bool((a == b) != e.not), true
}

// index is a constant map's value for a string key; a key it lacks goes
// to CEL (no such key).
type index struct {
	m   map[string]ref.Val
	key nstring
}

func (x index) value(hi *headerIndex, values []string) (ref.Val, bool) {
	k, ok := x.key.str(hi, values)
	if !ok {
		return nil, false
	}
	v, ok := x.m[k]
	return v, ok
}

// callN calls a function's CEL binding, as CEL's interpreter does for a
// strict call whose arguments have the traits it needs.
type callN struct {
	fn   *celfn.Overload
	args []nvalue
}

func (c callN) value(hi *headerIndex, values []string) (ref.Val, bool) {
	var buf [3]ref.Val
	args := buf[:0]
	for _, a := range c.args {
		v, ok := a.value(hi, values)
		if !ok {
			return nil, false
		}
		args = append(args, v)
	}
	if t := c.fn.OperandTrait; t != 0 && !args[0].Type().HasTrait(t) {
		return nil, false
	}
	var out ref.Val
	switch {
	case len(args) == 1 && c.fn.Unary != nil:
		out = c.fn.Unary(args[0])
	case len(args) == 2 && c.fn.Binary != nil:
		out = c.fn.Binary(args[0], args[1])
	default:
		out = c.fn.Function(args...)
	}
	if types.IsUnknownOrError(out) {
		return nil, false
	}
	return out, true
}

type nativeKind int

const (
	nativeDecimal nativeKind = iota + 1
	nativeScaled
	nativeDate
)

// helper computes decimal, scaled or date through the helpers' own code.
type helper struct {
	kind   nativeKind
	arg    nstring
	scale  int64
	sep    string // decimal separator
	layout *layout
	loc    *time.Location
}

func (h *helper) value(hi *headerIndex, values []string) (ref.Val, bool) {
	s, ok := h.arg.str(hi, values)
	if !ok {
		return nil, false
	}
	switch h.kind {
	case nativeDecimal:
		f, err := parseDecimal(s, h.sep)
		return types.Double(f), err == nil
	case nativeScaled:
		v, err := parseScaled(s, h.scale, h.sep)
		return types.Int(v), err == nil
	case nativeDate:
		t, err := h.layout.parse(s, h.loc)
		return types.Timestamp{Time: t}, err == nil
	}
	return nil, false
}
