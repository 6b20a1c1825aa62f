package policytest

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Violation is one broken policy.
type Violation struct {
	// Rule is the id of the broken rule, e.g. "pubsub-dead-letter".
	Rule string
	// Block names the top-level block at fault, terraform style:
	// "google_pubsub_subscription.sink", "module.collector", "var.image".
	Block string
	// Range is where in which file.
	Range hcl.Range
	// Message says what is wrong and what to do, in a sentence.
	Message string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s:%d: %s: %s [%s]", v.Range.Filename, v.Range.Start.Line, v.Block, v.Message, v.Rule)
}

// Tree is a parsed set of terraform files, grouped into modules (one per
// directory, like terraform itself). It is immutable once built.
type Tree struct {
	modules []*module
}

// module is the .tf files of one directory.
type module struct {
	dir    string
	blocks []*block
	scope  *scope
}

// block is a top-level block of a .tf file.
type block struct {
	kind   string // resource, data, module, variable, locals, output, ...
	labels []string
	body   *hclsyntax.Body
	rng    hcl.Range
	mod    *module
}

// name is the block's terraform address within its module.
func (b *block) name() string {
	switch b.kind {
	case "resource":
		return strings.Join(b.labels, ".")
	case "data", "module", "output":
		return b.kind + "." + strings.Join(b.labels, ".")
	case "variable":
		return "var." + strings.Join(b.labels, ".")
	default:
		return strings.Join(append([]string{b.kind}, b.labels...), ".")
	}
}

// resourceType is the first label of a resource or data block, else "".
func (b *block) resourceType() string {
	if (b.kind == "resource" || b.kind == "data") && len(b.labels) > 0 {
		return b.labels[0]
	}
	return ""
}

// Load parses every .tf file under root. Directories named testdata, and
// hidden ones such as .terraform, are skipped: fixtures are loaded on their own.
func Load(root string) (*Tree, error) {
	files, err := ReadFiles(root)
	if err != nil {
		return nil, err
	}
	// Report positions as paths a reader can open.
	rooted := make(map[string][]byte, len(files))
	for name, src := range files {
		rooted[path.Join(filepath.ToSlash(root), name)] = src
	}
	return Parse(rooted)
}

// ReadFiles reads every .tf file under root, as Load does, keyed by its
// slash-separated path relative to root. Tests mutate the result and hand it
// to Parse.
func ReadFiles(root string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Ext(p) != ".tf" {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = src
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policytest: read %s: %w", root, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("policytest: no .tf files under %s", root)
	}
	return files, nil
}

// Parse parses terraform files keyed by slash-separated path; files in the
// same directory form one module.
func Parse(files map[string][]byte) (*Tree, error) {
	byDir := map[string]*module{}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f, diags := hclsyntax.ParseConfig(files[name], name, hcl.InitialPos)
		if diags.HasErrors() {
			errs = append(errs, fmt.Errorf("policytest: parse: %w", diags))
			continue
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			errs = append(errs, fmt.Errorf("policytest: %s: not HCL native syntax", name))
			continue
		}
		dir := path.Dir(name)
		m := byDir[dir]
		if m == nil {
			m = &module{dir: dir}
			byDir[dir] = m
		}
		for _, b := range body.Blocks {
			m.blocks = append(m.blocks, &block{
				kind:   b.Type,
				labels: b.Labels,
				body:   b.Body,
				rng:    b.DefRange(),
				mod:    m,
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t := &Tree{}
	for _, dir := range slices.Sorted(maps.Keys(byDir)) {
		m := byDir[dir]
		m.scope = newScope(m)
		t.modules = append(t.modules, m)
	}
	return t, nil
}

// Check runs every rule of [Rules] over the tree and returns the violations,
// ordered by file and line.
func Check(t *Tree) []Violation {
	var out []Violation
	for _, m := range t.modules {
		for _, r := range rules {
			r.check(m, func(b *block, rng hcl.Range, format string, args ...any) {
				out = append(out, Violation{
					Rule:    r.ID,
					Block:   b.name(),
					Range:   rng,
					Message: fmt.Sprintf(format, args...),
				})
			})
		}
	}
	slices.SortStableFunc(out, func(a, b Violation) int {
		return cmp.Or(
			cmp.Compare(a.Range.Filename, b.Range.Filename),
			cmp.Compare(a.Range.Start.Line, b.Range.Start.Line),
			cmp.Compare(a.Rule, b.Rule),
		)
	})
	return out
}

// Resources lists the resources of type typ in the tree as "dir/type.name",
// so that tests can tell a passing tree from an empty one.
func (t *Tree) Resources(typ string) []string {
	var out []string
	for _, m := range t.modules {
		for _, b := range m.blocks {
			if b.kind == "resource" && b.resourceType() == typ {
				out = append(out, m.dir+"/"+b.name())
			}
		}
	}
	return out
}

// ModuleCalls lists the module blocks whose source ends with suffix (e.g.
// "modules/service") as "dir/module.name".
func (t *Tree) ModuleCalls(suffix string) []string {
	var out []string
	for _, m := range t.modules {
		for _, b := range m.blocks {
			if isModuleCall(b, suffix) {
				out = append(out, m.dir+"/"+b.name())
			}
		}
	}
	return out
}
