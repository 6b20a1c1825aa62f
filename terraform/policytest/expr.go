package policytest

import (
	"maps"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// scope evaluates what can be known statically inside one module: literals,
// var.X (from values, else from the variable's default, converted to its type
// with its optional attributes' defaults, as terraform does) and local.X. Everything else (resource
// attributes, module outputs, each, count, function calls) is unknown.
type scope struct {
	ctx    *hcl.EvalContext
	locals map[string]hclsyntax.Expression
}

func newScope(m *module, values map[string]cty.Value) *scope {
	s := &scope{locals: map[string]hclsyntax.Expression{}}
	vars := map[string]cty.Value{}
	for _, b := range m.blocks {
		switch b.kind {
		case "variable":
			if len(b.labels) != 1 {
				continue
			}
			v := cty.DynamicVal
			if a := b.body.Attributes["default"]; a != nil {
				if dv, diags := a.Expr.Value(nil); !diags.HasErrors() {
					v = dv
				}
			}
			if given, ok := values[b.labels[0]]; ok {
				v = given
			}
			vars[b.labels[0]] = typed(b, v)
		case "locals":
			for name, a := range b.body.Attributes {
				s.locals[name] = a.Expr
			}
		}
	}
	// Locals may refer to each other: evaluate in rounds until nothing more
	// resolves. Whatever is left is unknown.
	locals := map[string]cty.Value{}
	for name := range s.locals {
		locals[name] = cty.DynamicVal
	}
	for range len(s.locals) + 1 {
		s.ctx = &hcl.EvalContext{Variables: map[string]cty.Value{
			"var":   cty.ObjectVal(vars),
			"local": cty.ObjectVal(locals),
		}}
		progress := false
		for name, e := range s.locals {
			if locals[name].IsWhollyKnown() {
				continue
			}
			if v, diags := e.Value(s.ctx); !diags.HasErrors() && v.IsWhollyKnown() {
				locals[name] = v
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	s.ctx = &hcl.EvalContext{Variables: map[string]cty.Value{
		"var":   cty.ObjectVal(vars),
		"local": cty.ObjectVal(locals),
	}}
	return s
}

// typed converts a variable's value to the variable's type, filling in
// optional attributes' defaults; a value that does not convert stays as given.
func typed(b *block, v cty.Value) cty.Value {
	a := b.body.Attributes["type"]
	if a == nil || !v.IsWhollyKnown() || v.IsNull() {
		return v
	}
	ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
	if diags.HasErrors() {
		return v
	}
	if defaults != nil {
		v = defaults.Apply(v)
	}
	if c, err := convert.Convert(v, ty); err == nil {
		return c
	}
	return v
}

// eval returns the expression's value when it is statically known.
func (s *scope) eval(e hcl.Expression) (cty.Value, bool) {
	if e == nil {
		return cty.NilVal, false
	}
	v, diags := e.Value(s.ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return cty.NilVal, false
	}
	return v, true
}

// instance is one instance of a block: its each.key ("" without for_each)
// and the scope its expressions evaluate in.
type instance struct {
	key   string
	scope *scope
}

// instances returns a scope per instance of b when its for_each is known, so
// that var.x[each.key] resolves for every key; otherwise s alone.
func (s *scope) instances(b *block) []instance {
	v, ok := s.eval(attr(b.body, "for_each"))
	if !ok || !(v.CanIterateElements()) || v.Type().IsListType() || v.Type().IsTupleType() {
		return []instance{{scope: s}}
	}
	var out []instance
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		if v.Type().IsSetType() {
			k = ev
		}
		if k.Type() != cty.String {
			return []instance{{scope: s}}
		}
		vars := maps.Clone(s.ctx.Variables)
		vars["each"] = cty.ObjectVal(map[string]cty.Value{"key": k, "value": ev})
		out = append(out, instance{
			key:   k.AsString(),
			scope: &scope{ctx: &hcl.EvalContext{Variables: vars}, locals: s.locals},
		})
	}
	return out
}

// evalString returns the expression's value when it is a known string.
func (s *scope) evalString(e hcl.Expression) (string, bool) {
	v, ok := s.eval(e)
	if !ok || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// evalBool returns the expression's value when it is a known bool.
func (s *scope) evalBool(e hcl.Expression) (value, known bool) {
	v, ok := s.eval(e)
	if !ok || v.Type() != cty.Bool {
		return false, false
	}
	return v.True(), true
}

// literal is a string literal found in an expression and where it is.
type literal struct {
	value string
	rng   hcl.Range
}

// literals returns every string literal in node (a body or an expression),
// including the literal parts of templates. With deep set, references to
// local.X are followed into the local's expression, so a member spelled out
// in a local counts where it is used.
func (s *scope) literals(node hclsyntax.Node, deep bool) []literal {
	var out []literal
	seen := map[string]bool{}
	var walk func(n hclsyntax.Node)
	walk = func(n hclsyntax.Node) {
		_ = hclsyntax.VisitAll(n, func(n hclsyntax.Node) hcl.Diagnostics {
			switch e := n.(type) {
			case *hclsyntax.LiteralValueExpr:
				if e.Val.Type() == cty.String && e.Val.IsKnown() && !e.Val.IsNull() {
					out = append(out, literal{e.Val.AsString(), e.SrcRange})
				}
			case *hclsyntax.ScopeTraversalExpr:
				if !deep || e.Traversal.RootName() != "local" || len(e.Traversal) < 2 {
					return nil
				}
				attr, ok := e.Traversal[1].(hcl.TraverseAttr)
				if !ok || seen[attr.Name] {
					return nil
				}
				seen[attr.Name] = true
				if le := s.locals[attr.Name]; le != nil {
					walk(le)
				}
			}
			return nil
		})
	}
	walk(node)
	return out
}

// suffix is the literal text an expression certainly ends with: the whole
// string for a known string, the last literal part of a template.
func (s *scope) suffix(e hclsyntax.Expression) string {
	if v, ok := s.evalString(e); ok {
		return v
	}
	if t, ok := e.(*hclsyntax.TemplateExpr); ok && len(t.Parts) > 0 {
		if lit, ok := t.Parts[len(t.Parts)-1].(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
			return lit.Val.AsString()
		}
	}
	return ""
}

// references returns the "root.attr" names an expression refers to, such as
// "google_service_account.this", "module.collector" or "each.key".
func references(e hcl.Expression) []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, t := range e.Variables() {
		name := t.RootName()
		if len(t) > 1 {
			if a, ok := t[1].(hcl.TraverseAttr); ok {
				name += "." + a.Name
			}
		}
		out = append(out, name)
	}
	return out
}

// attr returns the named attribute's expression, or nil.
func attr(body *hclsyntax.Body, name string) hclsyntax.Expression {
	if a := body.Attributes[name]; a != nil {
		return a.Expr
	}
	return nil
}

// nested returns the blocks of type typ in body, including "dynamic" blocks
// that generate them (their content body stands in for the block's body).
func nested(body *hclsyntax.Body, typ string) []*hclsyntax.Body {
	var out []*hclsyntax.Body
	for _, b := range body.Blocks {
		switch {
		case b.Type == typ:
			out = append(out, b.Body)
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == typ:
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					out = append(out, c.Body)
				}
			}
		}
	}
	return out
}

// isModuleCall reports whether b is a module block whose source ends with
// suffix.
func isModuleCall(b *block, suffix string) bool {
	if b.kind != "module" {
		return false
	}
	src, ok := b.mod.scope.evalString(attr(b.body, "source"))
	return ok && strings.HasSuffix(path.Clean(src), suffix)
}

// mentions reports whether the block's labels contain word: a block is "the
// collector's" when its name says so.
func mentions(b *block, word string) bool {
	return strings.Contains(strings.Join(b.labels, "."), word)
}
