package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sourcesWith copies the sample declarations into a temporary folder, with
// edit applied to the product catalogue's text (old, new pairs).
func sourcesWith(t *testing.T, edit ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"product-catalogue.yaml", "stock-count.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../sources", name))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if name == "product-catalogue.yaml" {
			for i := 0; i+1 < len(edit); i += 2 {
				if !strings.Contains(text, edit[i]) {
					t.Fatalf("the sample lacks %q", edit[i])
				}
				text = strings.Replace(text, edit[i], edit[i+1], 1)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// lineOf is the 1-based line of the first line of file holding s.
func lineOf(t *testing.T, file, s string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s lacks %q", file, s)
	return 0
}

func TestSourceCheckSamples(t *testing.T) {
	t.Parallel()
	out, errOut, code := run(t, nil, "source", "check", "../../sources", "--proto", "../../proto")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"product-catalogue → shop.products.v1.ProductCreated (table shop_products_v1_product_created)",
		"stock-count → shop.products.v1.StockLevelChanged (table shop_products_v1_stock_level_changed)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "2 sources") || !strings.Contains(errOut, "no problems") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestSourceCheckFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit []string
		// line: the catalogue's line holding this text after the edit.
		line string
		want string // the rest of the output line after file:line:
	}{
		{
			name: "unknown subject",
			edit: []string{"subject: shop.products.v1.ProductCreated", "subject: shop.products.v1.ProductCreatd"},
			line: "subject:",
			want: `10: subject: unknown subject "shop.products.v1.ProductCreatd": no message of that name in the contracts under ../../proto; did you mean "shop.products.v1.ProductCreated"?`,
		},
		{
			name: "not an event type",
			edit: []string{"subject: shop.products.v1.ProductCreated", "subject: shop.common.v1.Money"},
			line: "subject:",
			want: "10: subject: shop.common.v1.Money is not an event type",
		},
		{
			name: "CEL type error",
			edit: []string{`name: row.brand.trim() + " " + row.designation.trim()`, `name: size(row.designation)`},
			line: "name: size(",
			want: "9: fields[name]: expression is int, field name is string",
		},
		{
			name: "CEL syntax error",
			edit: []string{`name: row.brand.trim() + " " + row.designation.trim()`, `name: row.brand.trim( + row.designation`},
			line: "name: row.brand",
			want: "9: fields[name]: ",
		},
		{
			name: "mapping to a field the contract lacks",
			edit: []string{"  ean: ean", "  barcode: ean"},
			line: "barcode:",
			want: "12: fields[barcode]: contract shop.products.v1.ProductCreated has no field barcode",
		},
		{
			name: "undeclared column",
			edit: []string{`chilled: row.chilled == "J"`, `chilled: row.cooled == "J"`},
			line: "row.cooled",
			want: "12: fields[chilled]: unknown column cooled",
		},
		{
			name: "key not mapped",
			edit: []string{"key: [sku]", "key: [sku, ean_code]"},
			line: "key:",
			want: "12: key[1]: contract shop.products.v1.ProductCreated has no field ean_code",
		},
		{
			name: "typo key",
			edit: []string{"event_time:", "event_tme:"},
			line: "event_tme:",
			want: `1: event_tme: unknown field; did you mean "event_time"?`,
		},
		{
			name: "unknown enum value",
			edit: []string{"encoding: LATIN1", "encoding: LATIN9"},
			line: "encoding:",
			want: `15: format.csv.encoding: unknown Encoding "LATIN9"; did you mean "LATIN1"?`,
		},
		{
			name: "violation",
			edit: []string{"max_rejected_share: 0.05", "max_rejected_share: 5"},
			line: "max_rejected_share:",
			want: "21: max_rejected_share: must be greater than or equal to 0 and less than or equal to 1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := sourcesWith(t, tc.edit...)
			file := filepath.Join(dir, "product-catalogue.yaml")
			out, errOut, code := run(t, nil, "source", "check", dir, "--proto", "../../proto")
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			want := file + ":" + strconv.Itoa(lineOf(t, file, tc.line)) + ":" + tc.want
			if !strings.Contains(out, want) {
				t.Errorf("output:\n%s\nlacks %q", out, want)
			}
			if !strings.Contains(errOut, "problems") {
				t.Errorf("stderr %q", errOut)
			}
		})
	}
}

func TestSourceList(t *testing.T) {
	t.Parallel()
	out, errOut, code := run(t, nil, "source", "list", "--sources", "../../sources", "--proto", "../../proto", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]map[string]string{
		"product-catalogue": {"subject": "shop.products.v1.ProductCreated", "table": "shop_products_v1_product_created", "format": "csv+gzip", "bucket": "hem-landing", "pattern": "catalogue/*.csv.gz"},
		"stock-count":       {"subject": "shop.products.v1.StockLevelChanged", "table": "shop_products_v1_stock_level_changed", "format": "ndjson+zip", "bucket": "hem-landing", "pattern": "stock/*.zip"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), out)
	}
	for _, r := range rows {
		w, ok := want[r["name"]]
		if !ok {
			t.Errorf("unexpected source %q", r["name"])
			continue
		}
		for k, v := range w {
			if r[k] != v {
				t.Errorf("%s: %s = %q, want %q", r["name"], k, r[k], v)
			}
		}
	}

	out, _, code = run(t, nil, "source", "list", "--sources", "../../sources", "--proto", "../../proto")
	if code != 0 || !strings.Contains(out, "gs://hem-landing/catalogue/*.csv.gz") || !strings.HasPrefix(out, "NAME") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
}
