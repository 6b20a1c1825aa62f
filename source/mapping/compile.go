package mapping

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

type format int

const (
	formatCSV format = iota + 1
	formatJSON
	formatParquet
)

// Mapping is a declaration's mapping, compiled against its contract: it
// turns a record into the contract message's bytes, an event time and key
// values. A Mapping is immutable and safe for concurrent use.
type Mapping struct {
	md       protoreflect.MessageDescriptor
	format   format
	delim    rune
	columns  []string
	colSet   map[string]bool
	leaves   []*leaf // sorted by path; leaf.slot indexes them
	root     *node
	oneofs   [][]*leaf // members of one real oneof, when several are mapped
	event    *leaf     // nil without event_time
	key      []*leaf
	pii      []string
	piiAll   bool     // a PII field reads columns not known before run time
	cols     []string // columns read by shorthand; leaf.colSlot indexes them
	hdr      atomic.Pointer[headerIndex]
	states   sync.Pool // *state
	sizeHint int
}

// leaf is one mapped field (or the event time): where its value comes from
// and what it must become.
type leaf struct {
	path     string // "price.amount_micros"; "event_time"
	chain    []protoreflect.FieldDescriptor
	fd       protoreflect.FieldDescriptor
	tg       target
	column   string // a column read; "" for CEL
	colSlot  int
	prg      cel.Program
	reads    []string // columns an expression reads by name
	dynamic  bool     // the expression reads row in a way not known before run time
	pii      bool     // the field has PII handling
	withhold bool     // errors must not quote values
	errCol   string   // MapError.Column
	slot     int
	expr     string // the expression's text
	dup      *leaf  // an earlier leaf with the same expression and target: its value is reused
	constant bool   // the expression reads no column: value is its value
	value    value
	native   nvalue // set: CSV records skip the CEL program when it can (native.go)
	// nativeStr is native's string, unboxed, when native gives one and the
	// field is not a list.
	nativeStr nstring
}

// node is a message of the tree of mapped fields: the root is the contract.
type node struct {
	fd       protoreflect.FieldDescriptor // nil for the root
	children []*node                      // by field number
	leaf     *leaf                        // set: a value, not a message to walk
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Compile type-checks src's fields, event_time and key against md (the
// contract). Its error is Errors: every problem, each with its path in
// the declaration.
func Compile(src *sourcev1.Source, md protoreflect.MessageDescriptor) (*Mapping, error) {
	return compile(src, md, false)
}

func compile(src *sourcev1.Source, md protoreflect.MessageDescriptor, noNative bool) (*Mapping, error) {
	c := &compiler{m: &Mapping{md: md}, noNative: noNative}
	m := c.m
	switch f := src.GetFormat().GetKind().(type) {
	case *sourcev1.Format_Csv:
		m.format, m.columns, m.delim = formatCSV, f.Csv.GetColumns(), ','
		if d := f.Csv.GetDelimiter(); d != "" {
			m.delim = []rune(d)[0]
		}
	case *sourcev1.Format_Json:
		m.format, m.columns = formatJSON, f.Json.GetColumns()
	case *sourcev1.Format_Parquet:
		m.format, m.columns = formatParquet, f.Parquet.GetColumns()
	default:
		c.problem("format", "no format: declare csv, json or parquet")
		return nil, c.errs
	}
	m.colSet = make(map[string]bool, len(m.columns))
	for _, col := range m.columns {
		m.colSet[col] = true
	}
	env, err := envFor(m.format)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	c.env = env

	if len(src.GetFields()) == 0 {
		c.problem("fields", "no fields: map at least one field of %s", md.FullName())
	}
	for _, path := range slices.Sorted(maps.Keys(src.GetFields())) {
		if l := c.field(path, src.GetFields()[path]); l != nil {
			l.slot = len(m.leaves)
			m.leaves = append(m.leaves, l)
		}
	}
	c.tree()
	if et := strings.TrimSpace(src.GetEventTime()); et != "" {
		m.event = c.value("event_time", "event_time", nil, target{timestamp: true}, et)
	}
	c.keys(src.GetKey())
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	c.piiColumns()
	c.dedupe()
	return m, nil
}

// dedupe lets an expression written twice (event_time is often a field's
// expression) run once per record.
func (c *compiler) dedupe() {
	seen := map[string]*leaf{}
	for _, l := range append(slices.Clone(c.m.leaves), c.m.event) {
		if l == nil || l.prg == nil || l.constant {
			continue
		}
		k := l.expr + "\x00" + l.tg.String()
		if first, ok := seen[k]; ok {
			l.dup = first
			continue
		}
		seen[k] = l
	}
}

type compiler struct {
	m    *Mapping
	env  *cel.Env
	errs Errors
	// noNative: every expression runs its CEL program (the tests' reference).
	noNative bool
	nc       *nativeCompiler
}

// native is the compiler of native expressions (native.go), its columns
// those of the mapping.
func (c *compiler) native() *nativeCompiler {
	if c.nc == nil {
		c.nc = &nativeCompiler{overloads: bindings(c.env), col: func(name string) int {
			i := slices.Index(c.m.cols, name)
			if i < 0 {
				i = len(c.m.cols)
				c.m.cols = append(c.m.cols, name)
			}
			return i
		}}
	}
	return c.nc
}

func (c *compiler) problem(path, format string, args ...any) {
	c.errs = append(c.errs, &Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// field compiles fields[path] = expr.
func (c *compiler) field(path, expr string) *leaf {
	p := "fields[" + path + "]"
	chain, ok := c.resolve(p, path)
	if !ok {
		return nil
	}
	fd := chain[len(chain)-1]
	tg, ok := targetOf(fd)
	if !ok {
		if fd.IsMap() {
			c.problem(p, "%s is a map: hem maps scalar, enum, timestamp and repeated fields", path)
		} else {
			c.problem(p, "%s is a %s: map its fields one by one (%s.FIELD)", path, fd.Message().FullName(), path)
		}
		return nil
	}
	l := c.value(p, path, chain, tg, expr)
	return l
}

// resolve walks a dotted field path through the contract's messages.
func (c *compiler) resolve(p, path string) ([]protoreflect.FieldDescriptor, bool) {
	md := c.m.md
	var chain []protoreflect.FieldDescriptor
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			prefix := strings.Join(segs[:i], ".")
			var names []string
			fields := md.Fields()
			for j := range fields.Len() {
				names = append(names, string(fields.Get(j).Name()))
			}
			where := "contract " + string(c.m.md.FullName())
			if i > 0 {
				where = prefix + " (" + string(md.FullName()) + ")"
			}
			msg := fmt.Sprintf("%s has no field %s", where, seg)
			if s := suggest(seg, names); s != "" {
				if prefix != "" {
					s = prefix + "." + s
				}
				msg += "; did you mean " + s + "?"
			}
			c.problem(p, "%s", msg)
			return nil, false
		}
		chain = append(chain, fd)
		if i == len(segs)-1 {
			break
		}
		sofar := strings.Join(segs[:i+1], ".")
		switch {
		case fd.IsList() || fd.IsMap():
			c.problem(p, "%s is repeated: a path cannot go through it", sofar)
			return nil, false
		case fd.Message() == nil:
			c.problem(p, "%s is a %s, not a message: it has no field %s", sofar, fd.Kind(), segs[i+1])
			return nil, false
		case isLeafMessage(fd.Message()):
			c.problem(p, "%s is a %s: map it as a whole", sofar, fd.Message().FullName())
			return nil, false
		}
		md = fd.Message()
	}
	return chain, true
}

// value compiles expr for the element at p: a column read or CEL.
func (c *compiler) value(p, path string, chain []protoreflect.FieldDescriptor, tg target, expr string) *leaf {
	l := &leaf{path: path, chain: chain, tg: tg, expr: strings.TrimSpace(expr)}
	if len(chain) > 0 {
		l.fd = chain[len(chain)-1]
		for _, fd := range chain {
			if contract.FieldOptions(fd).GetPii() != optionsv1.PiiHandling_PII_HANDLING_UNSPECIFIED {
				l.pii = true
			}
		}
	}
	expr = strings.TrimSpace(expr)
	if expr == "" {
		c.problem(p, "empty: name a column or write a CEL expression over row")
		return nil
	}
	if c.m.colSet[expr] || (len(c.m.columns) == 0 && c.m.format != formatCSV && identRE.MatchString(expr) && !reserved[expr]) {
		if tg.list {
			c.problem(p, "%s is repeated: a column gives one value; write an expression giving a list, e.g. row.%s.split(\"|\")", path, expr)
			return nil
		}
		l.column, l.errCol, l.reads = expr, expr, []string{expr}
		l.colSlot = slices.Index(c.m.cols, expr)
		if l.colSlot < 0 {
			l.colSlot = len(c.m.cols)
			c.m.cols = append(c.m.cols, expr)
		}
		return l
	}
	if identRE.MatchString(expr) && !reserved[expr] {
		msg := fmt.Sprintf("unknown column %s", expr)
		if s := suggest(expr, c.m.columns); s != "" {
			msg += "; did you mean " + s + "?"
		}
		c.problem(p, "%s (declared: %s)", msg, strings.Join(c.m.columns, ", "))
		return nil
	}
	ast, iss := c.env.Compile(expr)
	if iss.Err() != nil {
		for _, e := range iss.Errors() {
			loc := ""
			if strings.Contains(expr, "\n") {
				loc = fmt.Sprintf("line %d, ", e.Location.Line())
			}
			c.problem(p, "%s (CEL, at %scolumn %d)", e.Message, loc, e.Location.Column()+1)
		}
		return nil
	}
	if !accepts(tg, ast.OutputType()) {
		what := "field " + path + " is " + tg.String()
		if chain == nil {
			what = "event_time must be a timestamp"
		}
		c.problem(p, "expression is %s, %s", celTypeName(ast.OutputType()), what)
		return nil
	}
	if !c.checkRefs(p, l, ast) {
		return nil
	}
	prg, err := c.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		c.problem(p, "%v", err)
		return nil
	}
	l.prg = prg
	if l.constant {
		// It reads no column: evaluate it once, here.
		out, _, err := prg.Eval(interpreter.EmptyActivation())
		if err != nil {
			c.problem(p, "the expression fails: %v", err)
			return nil
		}
		v, cerr := tg.fromVal(out)
		if cerr != nil {
			if cerr.quote != "" {
				cerr.msg += ": " + strconv.Quote(cerr.quote)
			}
			c.problem(p, "%s", cerr.msg)
			return nil
		}
		l.value = v
	}
	if len(l.reads) == 1 && !l.dynamic {
		l.errCol = l.reads[0]
	}
	if !l.constant && c.m.format == formatCSV && !c.noNative {
		l.native = c.native().nativeOf(ast)
		if b, ok := l.native.(boxed); ok && !l.tg.list {
			l.nativeStr = b.s
		}
	}
	return l
}

var reserved = map[string]bool{"row": true, "true": true, "false": true, "null": true}

// checkRefs finds the columns an expression reads (row.x, row["x"],
// row.?x), refuses undeclared ones, and checks constant arguments of the
// helpers (layouts, time zones, separators) now rather than per record.
func (c *compiler) checkRefs(p string, l *leaf, ast *cel.Ast) bool {
	ok := true
	rows, named := 0, 0
	seen := map[string]bool{}
	col := func(name string) {
		named++
		if !seen[name] {
			seen[name] = true
			l.reads = append(l.reads, name)
		}
		if len(c.m.columns) > 0 && !c.m.colSet[name] {
			msg := "unknown column " + name
			if s := suggest(name, c.m.columns); s != "" {
				msg += "; did you mean " + s + "?"
			}
			c.problem(p, "%s (declared: %s)", msg, strings.Join(c.m.columns, ", "))
			ok = false
		}
	}
	isRow := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "row" }
	constString := func(e celast.Expr) (string, bool) {
		if e.Kind() != celast.LiteralKind {
			return "", false
		}
		s, isStr := e.AsLiteral().(types.String)
		return string(s), isStr
	}
	celast.PreOrderVisit(celast.NavigateAST(ast.NativeRep()), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if e.AsIdent() == "row" {
				rows++
			}
		case celast.SelectKind:
			if s := e.AsSelect(); isRow(s.Operand()) {
				col(s.FieldName())
			}
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			switch call.FunctionName() {
			case operators.Index, operators.OptIndex, operators.OptSelect:
				if len(args) == 2 && isRow(args[0]) {
					if s, isStr := constString(args[1]); isStr {
						col(s)
					}
				}
			case "date":
				if len(args) >= 2 {
					if s, isStr := constString(args[1]); isStr {
						if _, err := compileLayout(s, true); err != nil {
							c.problem(p, "date: %v", err)
							ok = false
						}
					}
				}
				if len(args) == 3 {
					if s, isStr := constString(args[2]); isStr {
						if _, err := location(s, true); err != nil {
							c.problem(p, "date: %v", err)
							ok = false
						}
					}
				}
			case "decimal", "scaled":
				if n := len(args); n == 3 || (n == 2 && call.FunctionName() == "decimal") {
					if s, isStr := constString(args[n-1]); isStr && s != "." && s != "," {
						c.problem(p, "%s: the decimal separator must be \".\" or \",\", not %q", call.FunctionName(), s)
						ok = false
					}
				}
			}
		}
	}))
	l.dynamic = rows > named
	l.constant = rows == 0
	return ok
}

// tree builds the message tree of the mapped fields and refuses overlaps
// (a field mapped as a whole and through its fields) and oneof conflicts.
func (c *compiler) tree() {
	m := c.m
	m.root = &node{}
	for _, l := range m.leaves {
		n := m.root
		for i, fd := range l.chain {
			var child *node
			for _, ch := range n.children {
				if ch.fd == fd {
					child = ch
				}
			}
			if child == nil {
				child = &node{fd: fd}
				n.children = append(n.children, child)
			}
			if child.leaf != nil || (i == len(l.chain)-1 && len(child.children) > 0) {
				other := child.leaf
				if other == nil {
					other = firstLeaf(child)
				}
				c.problem("fields["+l.path+"]", "%s and %s both set %s", other.path, l.path, fieldPath(l.chain[:i+1]))
				break
			}
			if i == len(l.chain)-1 {
				child.leaf = l
			}
			n = child
		}
	}
	var sortTree func(n *node)
	sortTree = func(n *node) {
		slices.SortFunc(n.children, func(a, b *node) int { return int(a.fd.Number()) - int(b.fd.Number()) })
		oneofs := map[protoreflect.OneofDescriptor][]*leaf{}
		for _, ch := range n.children {
			if o := ch.fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
				l := ch.leaf
				if l == nil {
					c.problem("fields["+firstLeaf(ch).path+"]", "%s is in oneof %s: map it as a whole, with an expression, or map only one member", fieldPath([]protoreflect.FieldDescriptor{ch.fd}), o.Name())
					continue
				}
				oneofs[o] = append(oneofs[o], l)
			}
			sortTree(ch)
		}
		for _, o := range slices.SortedFunc(maps.Keys(oneofs), func(a, b protoreflect.OneofDescriptor) int {
			return strings.Compare(string(a.Name()), string(b.Name()))
		}) {
			if len(oneofs[o]) > 1 {
				c.m.oneofs = append(c.m.oneofs, oneofs[o])
			}
		}
	}
	sortTree(m.root)
	m.sizeHint = 16 * len(m.leaves)
}

func firstLeaf(n *node) *leaf {
	if n.leaf != nil {
		return n.leaf
	}
	return firstLeaf(n.children[0])
}

func fieldPath(chain []protoreflect.FieldDescriptor) string {
	var parts []string
	for _, fd := range chain {
		parts = append(parts, string(fd.Name()))
	}
	return strings.Join(parts, ".")
}

// keys resolves the natural key: each must be a mapped, singular field.
func (c *compiler) keys(key []string) {
	for i, k := range key {
		p := fmt.Sprintf("key[%d]", i)
		chain, ok := c.resolve(p, k)
		if !ok {
			continue
		}
		path := fieldPath(chain)
		var found *leaf
		for _, l := range c.m.leaves {
			if l.path == path {
				found = l
			}
		}
		switch {
		case found == nil:
			c.problem(p, "%s is not mapped: add it to fields, or drop it from the key", path)
		case found.tg.list:
			c.problem(p, "%s is repeated: a key field holds one value", path)
		default:
			c.m.key = append(c.m.key, found)
		}
	}
}

// piiColumns collects the columns read by fields with PII handling, and
// marks every element whose errors must not quote values.
func (c *compiler) piiColumns() {
	m := c.m
	set := map[string]bool{}
	for _, l := range m.leaves {
		if !l.pii {
			continue
		}
		for _, col := range l.reads {
			set[col] = true
		}
		if l.dynamic {
			if len(m.columns) == 0 {
				m.piiAll = true
			}
			for _, col := range m.columns {
				set[col] = true
			}
		}
	}
	m.pii = slices.Sorted(maps.Keys(set))
	all := append(slices.Clone(m.leaves), m.event)
	for _, l := range all {
		if l == nil {
			continue
		}
		l.withhold = l.pii || m.piiAll || (l.dynamic && len(set) > 0)
		for _, col := range l.reads {
			if set[col] {
				l.withhold = true
			}
		}
	}
}

// envFor returns the CEL environment of a format, built once: row is
// map(string, string) for CSV and map(string, dyn) for JSON and Parquet.
func envFor(f format) (*cel.Env, error) {
	if f == formatCSV {
		return csvEnv()
	}
	return dynEnv()
}

var (
	csvEnv = sync.OnceValues(func() (*cel.Env, error) { return newEnv(cel.MapType(cel.StringType, cel.StringType)) })
	dynEnv = sync.OnceValues(func() (*cel.Env, error) { return newEnv(cel.MapType(cel.StringType, cel.DynType)) })
)

func newEnv(row *cel.Type) (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.Variable("row", row),
		ext.Strings(),
		ext.Math(),
		cel.OptionalTypes(),
	}
	return cel.NewEnv(append(opts, functions()...)...)
}

// suggest returns the name closest to s, if it is close enough to be a
// typo or a shortened name.
func suggest(s string, names []string) string {
	ls := strings.ToLower(s)
	best, bestD := "", len(s)/3+2
	for _, n := range names {
		ln := strings.ToLower(n)
		d := levenshtein(ls, ln)
		if len(ls) >= 3 && (strings.HasPrefix(ln, ls) || strings.HasPrefix(ls, ln)) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
