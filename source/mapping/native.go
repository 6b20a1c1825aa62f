package mapping

import (
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// native computes the commonest expressions over one CSV column without
// the CEL interpreter: row.x (or row["x"]), and the helpers decimal,
// scaled and date of row.x with constant arguments. It gives the value
// CEL would give, through the same helper code, and only when that
// succeeds: a missing column or a value the helper refuses goes to the
// CEL program, so errors are CEL's, word for word (FuzzNativeMatchesCEL
// holds the two paths to the same payloads and errors).
type native struct {
	kind    nativeKind
	col     string
	colSlot int // the column's position in Mapping.cols
	scale   int64
	sep     string // decimal separator
	layout  *layout
	loc     *time.Location
}

type nativeKind int

const (
	nativeColumn nativeKind = iota + 1
	nativeDecimal
	nativeScaled
	nativeDate
)

// nativeOf recognizes an expression native computes; nil otherwise.
func nativeOf(ast *cel.Ast) *native {
	e := ast.NativeRep().Expr()
	if col, ok := rowColumn(e); ok {
		return &native{kind: nativeColumn, col: col}
	}
	if e.Kind() != celast.CallKind {
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	if call.IsMemberFunction() || len(args) < 2 || len(args) > 3 {
		return nil
	}
	col, ok := rowColumn(args[0])
	if !ok {
		return nil
	}
	n := &native{col: col}
	switch call.FunctionName() {
	case "decimal":
		sep, ok := literalString(args[1])
		if !ok || len(args) != 2 {
			return nil
		}
		n.kind, n.sep = nativeDecimal, sep
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
		n.kind, n.scale, n.sep = nativeScaled, scale, sep
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
		n.kind, n.layout, n.loc = nativeDate, l, loc
	default:
		return nil
	}
	return n
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

// eval is the expression's value for the column's text s; ok false when
// CEL must answer (the helper refused s).
func (n *native) eval(s string) (ref.Val, bool) {
	switch n.kind {
	case nativeColumn:
		return types.String(s), true
	case nativeDecimal:
		f, err := parseDecimal(s, n.sep)
		return types.Double(f), err == nil
	case nativeScaled:
		v, err := parseScaled(s, n.scale, n.sep)
		return types.Int(v), err == nil
	case nativeDate:
		t, err := n.layout.parse(s, n.loc)
		return types.Timestamp{Time: t}, err == nil
	}
	return nil, false
}
