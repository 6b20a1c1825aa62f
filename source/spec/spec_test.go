package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/spec"
)

// valid is a complete declaration; cases edit it.
const valid = `name: catalogue
subject: shop.products.v1.ProductCreated
objects:
  bucket: hem-landing
  pattern: catalogue/*.csv.gz
format:
  csv:
    delimiter: ";"
    encoding: LATIN1
    columns: [article_no, designation]
compression:
  gzip: {}
fields:
  sku: article_no
  name: row.designation.trim()
key: [sku]
`

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		want []string // each a line of the error, in order
	}{
		{
			name: "typo key",
			yaml: strings.Replace(valid, "subject:", "subjcet:", 1),
			want: []string{
				"sources/x.yaml:1:1: subject: missing (",
				`sources/x.yaml:2:1: subjcet: unknown field; did you mean "subject"? (Source has name, description, subject,`,
			},
		},
		{
			name: "nested typo key",
			yaml: strings.Replace(valid, "    delimiter:", "    delimter:", 1),
			want: []string{`sources/x.yaml:8:5: format.csv.delimter: unknown field; did you mean "delimiter"?`},
		},
		{
			name: "unknown key far from any",
			yaml: valid + "owner: team-data\n",
			want: []string{"sources/x.yaml:17:1: owner: unknown field (Source has name,"},
		},
		{
			name: "wrong type: list for text",
			yaml: strings.Replace(valid, "name: catalogue", "name: [catalogue]", 1),
			want: []string{"sources/x.yaml:1:7: name: want text, got a list"},
		},
		{
			name: "wrong type: number for text",
			yaml: strings.Replace(valid, "hem-landing", "12345", 1),
			want: []string{`sources/x.yaml:4:11: objects.bucket: want text, got the number 12345 (quote it: "12345")`},
		},
		{
			name: "wrong type: text for a number",
			yaml: valid + "max_rejected_share: lots\n",
			want: []string{`sources/x.yaml:17:21: max_rejected_share: want a number, got "lots"`},
		},
		{
			name: "wrong type: scalar for a list",
			yaml: strings.Replace(valid, "key: [sku]", "key: sku", 1),
			want: []string{`sources/x.yaml:16:6: key: want a list ([a, b] or lines starting with -), got "sku"`},
		},
		{
			name: "wrong type: scalar for a message",
			yaml: strings.Replace(valid, "compression:\n  gzip: {}", "compression: gzip", 1),
			want: []string{`sources/x.yaml:11:14: compression: want a mapping of the fields of Compression (gzip, zstd, zip, tar_gz), got "gzip"`},
		},
		{
			name: "unknown enum value",
			yaml: strings.Replace(valid, "LATIN1", "LATN1", 1),
			want: []string{`sources/x.yaml:9:15: format.csv.encoding: unknown Encoding "LATN1"; did you mean "LATIN1"? (one of UTF8, LATIN1)`},
		},
		{
			name: "duplicate key",
			yaml: valid + "name: again\n",
			want: []string{"sources/x.yaml:17:1: name: set twice (first on line 1)"},
		},
		{
			name: "duplicate field mapping",
			yaml: strings.Replace(valid, "  sku: article_no\n", "  sku: article_no\n  sku: ean\n", 1),
			want: []string{"sources/x.yaml:15:3: fields[sku]: set twice (first on line 14)"},
		},
		{
			name: "two oneof members",
			yaml: strings.Replace(valid, "  gzip: {}", "  gzip: {}\n  zstd: {}", 1),
			want: []string{"sources/x.yaml:13:3: compression.zstd: gzip and zstd are alternatives: set one of gzip, zstd, zip, tar_gz"},
		},
		{
			name: "violation: name pattern",
			yaml: strings.Replace(valid, "name: catalogue", "name: Catalogue", 1),
			want: []string{"sources/x.yaml:1:7: name: does not match regex pattern"},
		},
		{
			name: "violation: share out of range, on its line",
			yaml: valid + "max_rejected_share: 1.5\n",
			want: []string{"sources/x.yaml:17:21: max_rejected_share: must be greater than or equal to 0 and less than or equal to 1"},
		},
		{
			name: "violation: repeated column, on the list's line",
			yaml: strings.Replace(valid, "[article_no, designation]", "[article_no, article_no]", 1),
			want: []string{"sources/x.yaml:10:14: format.csv.columns: repeated value must contain unique items"},
		},
		{
			name: "violation: required message left out",
			yaml: strings.Replace(valid, "objects:\n  bucket: hem-landing\n  pattern: catalogue/*.csv.gz\n", "", 1),
			want: []string{"sources/x.yaml:1:1: objects: value is required"},
		},
		{
			name: "violation: no format kind",
			yaml: strings.Replace(valid, "  csv:\n    delimiter: \";\"\n    encoding: LATIN1\n    columns: [article_no, designation]\n", "  {}\n", 1),
			want: []string{"sources/x.yaml:7:3: format.kind: exactly one field is required in oneof"},
		},
		{
			name: "bad glob",
			yaml: strings.Replace(valid, "catalogue/*.csv.gz", "catalogue/**.csv.gz", 1),
			want: []string{`sources/x.yaml:5:12: objects.pattern: pattern "catalogue/**.csv.gz": ** is a segment of its own`},
		},
		{
			name: "bad delimiter",
			yaml: strings.Replace(valid, `delimiter: ";"`, `delimiter: '"'`, 1),
			want: []string{`sources/x.yaml:8:16: format.csv.delimiter: "\"" cannot be a delimiter`},
		},
		{
			name: "alias",
			yaml: strings.Replace(valid, "name: catalogue", "name: &n catalogue\ndescription: *n", 1),
			want: []string{"sources/x.yaml:2:14: description: YAML aliases (*n) are not supported"},
		},
		{
			name: "syntax error",
			yaml: strings.Replace(valid, "key: [sku]", "key: [sku", 1),
			want: []string{"sources/x.yaml:16: not valid YAML: did not find expected ',' or ']'"},
		},
		{
			name: "syntax error, scanner",
			yaml: strings.Replace(valid, "key: [sku]", "key: [sku]\n\tbad: tab", 1),
			want: []string{"sources/x.yaml:17: not valid YAML: found character that cannot start any token"},
		},
		{
			name: "two documents",
			yaml: valid + "---\n" + valid,
			want: []string{"sources/x.yaml:17:1: a second YAML document: a file holds one source declaration"},
		},
		{
			name: "empty",
			yaml: "# nothing yet\n",
			want: []string{"sources/x.yaml:1:1: the file is empty"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			decl, err := spec.Parse("sources/x.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse = %v, want errors %q", decl.Source, tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			i := 0
			for _, l := range lines {
				if i < len(tc.want) && strings.HasPrefix(l, tc.want[i]) {
					i++
				}
			}
			if i < len(tc.want) {
				t.Errorf("error:\n%v\nlacks the line starting %q", err, tc.want[i])
			}
			var es spec.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T, want spec.Errors", err)
			}
			for _, e := range es {
				if e.File != "sources/x.yaml" || e.Line < 1 {
					t.Errorf("%v: want a file and a line", e)
				}
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	decl, err := spec.Parse("sources/x.yaml", []byte(valid+"max_rejected_share: 0.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	src := decl.Source
	if got := src.GetFormat().GetCsv().GetEncoding(); got != sourcev1.Encoding_ENCODING_LATIN1 {
		t.Errorf("encoding = %v", got)
	}
	if got := spec.Delimiter(src.GetFormat().GetCsv()); got != ';' {
		t.Errorf("delimiter = %q", got)
	}
	if src.GetCompression().GetGzip() == nil {
		t.Error("gzip not set")
	}
	if got := src.GetFields()["name"]; got != "row.designation.trim()" {
		t.Errorf("fields[name] = %q", got)
	}
	if got := spec.MaxRejectedShare(src); got != 0.1 {
		t.Errorf("max rejected share = %v", got)
	}
	for path, want := range map[string][2]int{
		"":                      {1, 1},
		"subject":               {2, 10},
		"format.csv.columns":    {10, 14},
		"format.csv.columns[1]": {10, 27},
		"fields[name]":          {15, 9},
		"key[0]":                {16, 7},
		"event_time":            {1, 1},  // absent: the document
		"objects.missing":       {4, 3},  // absent: objects
		"fields[nope]":          {14, 3}, // absent: fields
		"compression.gzip":      {12, 9},
	} {
		if l, c := decl.Pos(path); l != want[0] || c != want[1] {
			t.Errorf("Pos(%q) = %d:%d, want %d:%d", path, l, c, want[0], want[1])
		}
	}
}

func TestParseForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		check      func(*sourcev1.Source) bool
	}{
		{"enum with prefix", strings.Replace(valid, "LATIN1", "ENCODING_LATIN1", 1), func(s *sourcev1.Source) bool {
			return s.GetFormat().GetCsv().GetEncoding() == sourcev1.Encoding_ENCODING_LATIN1
		}},
		{"enum lower case", strings.Replace(valid, "LATIN1", "latin1", 1), func(s *sourcev1.Source) bool {
			return s.GetFormat().GetCsv().GetEncoding() == sourcev1.Encoding_ENCODING_LATIN1
		}},
		{"empty message as null", strings.Replace(valid, "gzip: {}", "gzip:", 1), func(s *sourcev1.Source) bool {
			return s.GetCompression().GetGzip() != nil
		}},
		{"expression that looks like a number", strings.Replace(valid, "sku: article_no", "sku: 42", 1), func(s *sourcev1.Source) bool {
			return s.GetFields()["sku"] == "42"
		}},
		{"block list", strings.Replace(valid, "key: [sku]", "key:\n  - sku\n  - name", 1), func(s *sourcev1.Source) bool {
			return len(s.GetKey()) == 2 && s.GetKey()[1] == "name"
		}},
		{"tab delimiter", strings.Replace(valid, `delimiter: ";"`, `delimiter: "\t"`, 1), func(s *sourcev1.Source) bool {
			return spec.Delimiter(s.GetFormat().GetCsv()) == '\t'
		}},
		{"zip archive", strings.Replace(valid, "gzip: {}", "zip: {entry_pattern: \"**/*.csv\"}", 1), func(s *sourcev1.Source) bool {
			return spec.EntryPattern(s.GetCompression().GetZip()) == "**/*.csv"
		}},
		{"skip lines", strings.Replace(valid, "    encoding:", "    skip_lines: 2\n    encoding:", 1), func(s *sourcev1.Source) bool {
			return s.GetFormat().GetCsv().GetSkipLines() == 2
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			decl, err := spec.Parse("x.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(decl.Source) {
				t.Errorf("decoded %v", decl.Source)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	src := &sourcev1.Source{}
	if got := spec.MaxRejectedShare(src); got != 0.05 {
		t.Errorf("MaxRejectedShare = %v, want 0.05", got)
	}
	zero := 0.0
	src.MaxRejectedShare = &zero
	if got := spec.MaxRejectedShare(src); got != 0 {
		t.Errorf("MaxRejectedShare(0) = %v, want 0 (declared)", got)
	}
	if got := spec.Delimiter(nil); got != ',' {
		t.Errorf("Delimiter = %q", got)
	}
	if got := spec.Encoding(nil); got != sourcev1.Encoding_ENCODING_UTF8 {
		t.Errorf("Encoding = %v", got)
	}
	if got := spec.EntryPattern(nil); got != "**" {
		t.Errorf("EntryPattern = %q", got)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", valid)
	write("b.yaml", "# the same name again\n"+valid)
	write("c.yaml", strings.Replace(valid, "catalogue", "other", 1)+"bucket: x\n")
	write("d.yml", strings.Replace(valid, "catalogue", "fourth", 1))
	write("notes.txt", "not a declaration")
	decls, err := spec.Load(dir)
	want := []string{
		filepath.Join(dir, "b.yaml") + `:2:7: name: "catalogue" is declared already, in ` + filepath.Join(dir, "a.yaml") + ":1:7: names are unique",
		filepath.Join(dir, "c.yaml") + ":17:1: bucket: unknown field",
	}
	if err == nil {
		t.Fatal("Load: no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error:\n%v\nlacks %q", err, w)
		}
	}
	var names []string
	for _, d := range decls {
		names = append(names, d.Source.GetName())
	}
	if strings.Join(names, ",") != "catalogue,fourth" {
		t.Errorf("declarations that parsed = %v, want catalogue,fourth", names)
	}
}

// The samples are the tour's and the tests' inputs: they must stay valid.
func TestSamples(t *testing.T) {
	t.Parallel()
	decls, err := spec.Load("../../sources")
	if err != nil {
		t.Fatal(err)
	}
	if len(decls) < 2 {
		t.Fatalf("%d samples, want at least 2", len(decls))
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"catalogue/*.csv.gz", "catalogue/2026-12-07.csv.gz", true},
		{"catalogue/*.csv.gz", "catalogue/old/2026-12-07.csv.gz", false},
		{"catalogue/*.csv.gz", "catalogue/2026-12-07.csv", false},
		{"catalogue/*.csv.gz", "other/2026-12-07.csv.gz", false},
		{"*.ndjson", "counts.ndjson", true},
		{"*.ndjson", "dir/counts.ndjson", false},
		{"**/*.ndjson", "counts.ndjson", true},
		{"**/*.ndjson", "a/b/counts.ndjson", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"a/**", "a/x/y", true},
		{"a/**", "b/x", false},
		{"**", "anything/at/all", true},
		{"a/**/**/b", "a/b", true},
		{"day-??.csv", "day-07.csv", true},
		{"day-[0-9][0-9].csv", "day-7x.csv", false},
		{"a/[", "a/[", false}, // malformed: matches nothing
	} {
		if got := spec.Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestMatchManyStars(t *testing.T) {
	t.Parallel()
	// A backtracking matcher takes exponential time here.
	pattern := strings.Repeat("**/", 30) + "z"
	name := strings.Repeat("a/", 200) + "y"
	if spec.Match(pattern, name) {
		t.Error("matched")
	}
}

func TestFixedPrefix(t *testing.T) {
	t.Parallel()
	for pattern, want := range map[string]string{
		"catalogue/*.csv.gz":    "catalogue/",
		"a/b/**/c.csv":          "a/b/",
		"a/b/day-??.csv":        "a/b/",
		"*.csv":                 "",
		"**":                    "",
		"exports/catalogue.csv": "exports/",
		"catalogue.csv":         "",
	} {
		if got := spec.FixedPrefix(pattern); got != want {
			t.Errorf("FixedPrefix(%q) = %q, want %q", pattern, got, want)
		}
	}
}
