package layering_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/hemlabs/hem"

// layers maps each top-level folder (or a deeper one, when it differs from
// its parent) to its layer. A folder missing here fails the test: a new
// folder takes its place in the layers on purpose.
var layers = map[string]int{
	"cmd":        4,
	"terraform":  3, // terraform/policytest: a test of the deployment
	"internal":   3,
	"collector":  2,
	"processor":  2,
	"console":    2,
	"layers":     2,
	"client":     2,
	"registry":   1,
	"sink":       1,
	"source":     1,
	"fieldcrypt": 1,
	"contract":   0,
	"envelope":   0,
	"wire":       0,
	"auth":       0,
	"cache":      0,
	"gen":        0,
}

// layerOf returns the layer of a package directory (slash-separated,
// relative to the module root) and the folder that decided it.
func layerOf(dir string) (int, string, bool) {
	for d := dir; d != "."; d = filepath.ToSlash(filepath.Dir(d)) {
		if l, ok := layers[d]; ok {
			return l, d, true
		}
	}
	return 0, "", false
}

// imports lists, per package directory, the hem packages its non-test files
// import (tests may use what they test from above).
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if _, ok := out[rel]; !ok {
			out[rel] = nil
		}
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if dep, ok := strings.CutPrefix(p, module+"/"); ok && !slices.Contains(out[rel], dep) {
				out[rel] = append(out[rel], dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNothingImportsALayerAbove(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	pkgs := imports(t, root)
	if len(pkgs) < 20 {
		t.Fatalf("found %d packages under %s; the walk is broken", len(pkgs), root)
	}
	for dir, deps := range pkgs {
		if dir == "." {
			continue
		}
		layer, folder, ok := layerOf(dir)
		if !ok {
			t.Errorf("%s is in no layer: add its folder to layers (and to the table in doc.go and the README)", dir)
			continue
		}
		for _, dep := range deps {
			depLayer, depFolder, ok := layerOf(dep)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is in no layer", dir, dep)
			case depFolder == "gen" || depFolder == folder:
				// Generated code is everyone's; a folder is one layer.
			case layer == 0:
				t.Errorf("ground floor %s imports %s: the ground floor imports only generated code besides itself", dir, dep)
			case depLayer > layer:
				t.Errorf("%s (layer %d, %s/) imports %s (layer %d, %s/): a package may not import a higher layer", dir, layer, folder, dep, depLayer, depFolder)
			case depLayer == layer:
				t.Errorf("%s imports %s: %s/ and %s/ are side by side in layer %d; move what both need down a layer", dir, dep, folder, depFolder, layer)
			}
		}
	}
}

// TestLayerOf pins how folders resolve, so a typo in layers cannot pass
// silently.
func TestLayerOf(t *testing.T) {
	tests := []struct {
		dir    string
		layer  int
		folder string
		ok     bool
	}{
		{"sink/duckdb", 1, "sink", true},
		{"contract/protoprint", 0, "contract", true},
		{"internal/cli", 3, "internal", true},
		{"gen/hem/event/v1", 0, "gen", true},
		{"nowhere/pkg", 0, "", false},
	}
	for _, tt := range tests {
		layer, folder, ok := layerOf(tt.dir)
		if layer != tt.layer || folder != tt.folder || ok != tt.ok {
			t.Errorf("layerOf(%q) = %d %q %v, want %d %q %v", tt.dir, layer, folder, ok, tt.layer, tt.folder, tt.ok)
		}
	}
}
