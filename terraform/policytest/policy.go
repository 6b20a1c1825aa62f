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
	"github.com/zclconf/go-cty/cty"
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
	// Environment lists the directories of the values with which the module
	// breaks the rule ("environments/dev, environments/prod"), or is "" when
	// it was checked with its variables' defaults.
	Environment string
}

func (v Violation) String() string {
	s := fmt.Sprintf("%s:%d: %s: %s [%s]", v.Range.Filename, v.Range.Start.Line, v.Block, v.Message, v.Rule)
	if v.Environment != "" {
		s += " (with " + v.Environment + ")"
	}
	return s
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
	// envs are the environments that deploy this module as a root module,
	// each checked with its values; none means the variables' defaults.
	envs []*environment
}

// environment is a directory of .tfvars files and no .tf file: the values one
// deployment passes to the root module above it (the nearest ancestor
// directory holding .tf files).
type environment struct {
	dir    string
	values map[string]cty.Value
}

// withValues returns a copy of m whose scope sees values over the defaults.
func (m *module) withValues(values map[string]cty.Value) *module {
	c := &module{dir: m.dir}
	for _, b := range m.blocks {
		nb := *b
		nb.mod = c
		c.blocks = append(c.blocks, &nb)
	}
	c.scope = newScope(c, values)
	return c
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

// Load parses every .tf and .tfvars file under root. Directories named testdata, and
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

// ReadFiles reads every .tf and .tfvars file under root, as Load does, keyed by its
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
		if ext := filepath.Ext(p); ext != ".tf" && ext != ".tfvars" {
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

// valuesFile is the name of an environment's committed values
// (terraform/README.md passes it first, then the deployer's own files, which
// therefore win).
const valuesFile = "values.tfvars"

// Parse parses terraform files keyed by slash-separated path; .tf files in
// the same directory form one module. A directory with .tfvars files and no
// .tf file is an environment of the nearest module above it: that module is
// checked once with each environment's values, as terraform -var-file would
// see them (values.tfvars first, then the others in name order).
func Parse(files map[string][]byte) (*Tree, error) {
	byDir := map[string]*module{}
	envs := map[string]*environment{}
	var errs []error
	names := slices.SortedFunc(maps.Keys(files), func(a, b string) int {
		return cmp.Or(
			cmp.Compare(path.Dir(a), path.Dir(b)),
			cmp.Compare(valuesRank(a), valuesRank(b)),
			cmp.Compare(a, b),
		)
	})
	for _, name := range names {
		if path.Ext(name) == ".tfvars" {
			dir := path.Dir(name)
			e := envs[dir]
			if e == nil {
				e = &environment{dir: dir, values: map[string]cty.Value{}}
				envs[dir] = e
			}
			if err := parseValues(files[name], name, e.values); err != nil {
				errs = append(errs, err)
			}
			continue
		}
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
	for _, dir := range slices.Sorted(maps.Keys(envs)) {
		if byDir[dir] != nil {
			// terraform loads a root's terraform.tfvars for every environment.
			errs = append(errs, fmt.Errorf("policytest: %s holds .tf and .tfvars files: values belong in an environment's directory (environments/ENV), where only its -var-file passes them", dir))
			continue
		}
		m := rootOf(byDir, dir)
		if m == nil {
			errs = append(errs, fmt.Errorf("policytest: %s: no module above these values", dir))
			continue
		}
		m.envs = append(m.envs, envs[dir])
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t := &Tree{}
	for _, dir := range slices.Sorted(maps.Keys(byDir)) {
		m := byDir[dir]
		m.scope = newScope(m, nil)
		t.modules = append(t.modules, m)
	}
	return t, nil
}

// valuesRank orders an environment's values.tfvars before its other files.
func valuesRank(name string) int {
	if path.Base(name) == valuesFile {
		return 0
	}
	return 1
}

// rootOf returns the module in the nearest directory above dir, or nil.
func rootOf(byDir map[string]*module, dir string) *module {
	for d := dir; ; {
		parent := path.Dir(d)
		if m := byDir[parent]; m != nil {
			return m
		}
		if parent == d || parent == "." || parent == "/" {
			return byDir["."]
		}
		d = parent
	}
}

// parseValues adds the attributes of a .tfvars file to values. Like
// terraform, it accepts constant expressions only.
func parseValues(src []byte, name string, values map[string]cty.Value) error {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return fmt.Errorf("policytest: parse: %w", diags)
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return fmt.Errorf("policytest: %s: not HCL native syntax", name)
	}
	if len(body.Blocks) > 0 {
		return fmt.Errorf("policytest: %s: a values file holds attributes only, found a %s block", name, body.Blocks[0].Type)
	}
	for n, a := range body.Attributes {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return fmt.Errorf("policytest: %s: %w", name, diags)
		}
		values[n] = v
	}
	return nil
}

// Check runs every rule of [Rules] over the tree and returns the violations,
// ordered by file and line.
func Check(t *Tree) []Violation {
	var out []Violation
	// A violation that does not depend on the values is reported once, naming
	// every environment that has it.
	type key struct {
		rule, block, msg, file string
		offset                 int
	}
	seen := map[key]int{}
	check := func(m *module, env string) {
		for _, r := range rules {
			r.check(m, func(b *block, rng hcl.Range, format string, args ...any) {
				v := Violation{
					Rule:        r.ID,
					Block:       b.name(),
					Range:       rng,
					Message:     fmt.Sprintf(format, args...),
					Environment: env,
				}
				k := key{v.Rule, v.Block, v.Message, rng.Filename, rng.Start.Byte}
				if i, ok := seen[k]; ok && env != "" {
					out[i].Environment += ", " + env
					return
				}
				seen[k] = len(out)
				out = append(out, v)
			})
		}
	}
	for _, m := range t.modules {
		if len(m.envs) == 0 {
			check(m, "")
			continue
		}
		for _, e := range m.envs {
			check(m.withValues(e.values), e.dir)
		}
	}
	slices.SortStableFunc(out, func(a, b Violation) int {
		return cmp.Or(
			cmp.Compare(a.Range.Filename, b.Range.Filename),
			cmp.Compare(a.Range.Start.Line, b.Range.Start.Line),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Environment, b.Environment),
		)
	})
	return out
}

// Environments lists the environment directories of the tree and the
// module each deploys, as "env => module dir".
func (t *Tree) Environments() map[string]string {
	out := map[string]string{}
	for _, m := range t.modules {
		for _, e := range m.envs {
			out[e.dir] = m.dir
		}
	}
	return out
}

// Values returns the values an environment sets, by variable name, and the
// variables the module it deploys declares, for tests that keep environments
// thin.
func (t *Tree) Values(env string) (set, declared []string) {
	for _, m := range t.modules {
		for _, e := range m.envs {
			if e.dir != env {
				continue
			}
			set = slices.Sorted(maps.Keys(e.values))
			for _, b := range m.blocks {
				if b.kind == "variable" && len(b.labels) == 1 {
					declared = append(declared, b.labels[0])
				}
			}
			slices.Sort(declared)
		}
	}
	return set, declared
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
