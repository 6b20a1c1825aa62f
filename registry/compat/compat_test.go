package compat_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry/compat"
)

// base is a contract exercising every kind of element the rules look at.
const base = `syntax = "proto3";
package acme.orders.v1;
import "buf/validate/validate.proto";
import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";

enum Status {
  STATUS_UNSPECIFIED = 0;
  STATUS_OPEN = 1;
  STATUS_SHIPPED = 3;
}

message Item {
  string sku = 1;
  int32 quantity = 2 [(buf.validate.field).int32.gt = 0];
}

message OrderCreated {
  option (hem.options.v1.event) = {entity_key_field: "order_id"};
  reserved 20;
  string order_id = 1 [(buf.validate.field).string.min_len = 1];
  google.protobuf.Timestamp at = 2;
  repeated Item items = 3;
  Status status = 4;
  string tag = 5;
  int32 n = 6;
  string coupon = 7;
  map<string, string> labels = 8;
  string userid = 9;
  oneof contact {
    string email = 10;
    string phone = 11;
  }
  string note = 12;
}
`

// version compiles src (with edits applied: pairs of old, new text) as
// acme.orders.v1.OrderCreated.
func version(t testing.TB, src string, edits ...string) *contract.Schema {
	t.Helper()
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(src, edits[i]) {
			t.Fatalf("edit %q does not apply", edits[i])
		}
		src = strings.Replace(src, edits[i], edits[i+1], 1)
	}
	source, err := contract.CompileSources(context.Background(), map[string]string{"acme/orders/v1/orders.proto": src})
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	subject := "acme.orders.v1.OrderCreated"
	if i := strings.Index(src, "package "); i >= 0 {
		pkg := strings.TrimSuffix(strings.Fields(src[i+8:])[0], ";")
		subject = pkg + ".OrderCreated"
	}
	s, err := source.Schema(subject)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func has(vs []compat.Violation, rule, path string) bool {
	for _, v := range vs {
		if v.Rule == rule && (path == "" || v.Path == path) {
			return true
		}
	}
	return false
}

const subject = "acme.orders.v1.OrderCreated"

func TestEvolutionRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rule    string
		path    string
		bad     []string // edits that break the rule
		allowed []string // a nearby change that is fine
	}{
		{"EV-W03", subject + ".items", []string{"message Item {", "message LineItem {", "repeated Item items", "repeated LineItem items"},
			[]string{"message Item {", "message Extra { string x = 1; }\nmessage Item {"}},
		{"EV-W04", subject + ".coupon", []string{"  string coupon = 7;\n", ""},
			[]string{"string coupon = 7;", "string coupon = 7 [deprecated = true];"}},
		{"EV-W05", subject + ".coupon", []string{"string coupon = 7;", "string coupon = 13;"},
			[]string{"reserved 20;", "reserved 20, 21;"}},
		{"EV-W05", subject, []string{"reserved 20;", ""}, []string{"reserved 20;", "reserved 20, 30;"}},
		{"EV-W06", subject + ".items.quantity", []string{"int32 quantity = 2", "int64 quantity = 2"},
			[]string{"string sku = 1;", "string sku = 1;\n  int64 weight = 3;"}},
		{"EV-W06", subject + ".at", []string{"google.protobuf.Timestamp at = 2;", "int64 at = 2;"},
			[]string{"string note = 12;", "string note = 12;\n  google.protobuf.Timestamp shipped_at = 13;"}},
		{"EV-W07", subject + ".tag", []string{"string tag = 5;", "repeated string tag = 5;"},
			[]string{"string note = 12;", "string note = 12;\n  repeated string tags = 13;"}},
		{"EV-W07", subject + ".n", []string{"int32 n = 6;", "optional int32 n = 6;"},
			[]string{"string note = 12;", "string note = 12;\n  optional int32 m = 13;"}},
		{"EV-W08", subject + ".note", []string{"    string phone = 11;\n  }\n  string note = 12;", "    string phone = 11;\n    string note = 12;\n  }"},
			[]string{"    string phone = 11;\n", "    string phone = 11;\n    string fax = 13;\n"}},
		{"EV-W08", subject + ".contact", []string{"oneof contact {", "oneof reach {"},
			[]string{"string note = 12;", "string note = 12;\n  oneof pay {\n    string card = 13;\n  }"}},
		{"EV-W10", subject + ".status.STATUS_SHIPPED", []string{"  STATUS_SHIPPED = 3;\n", ""},
			[]string{"STATUS_SHIPPED = 3;", "STATUS_SHIPPED = 3;\n  STATUS_DELIVERED = 4;"}},
		{"EV-J01", subject + ".userid", []string{"string userid = 9;", "string customer_id = 9;"},
			[]string{"string userid = 9;", "string userid = 9 [deprecated = true];"}},
		{"EV-J02", subject + ".note", []string{"string note = 12;", `string note = 12 [json_name = "remark"];`},
			[]string{"string note = 12;", "string note = 12; // a comment"}},
		{"EV-J03", subject + ".status.STATUS_SHIPPED", []string{"STATUS_SHIPPED = 3;", "STATUS_DISPATCHED = 3;"},
			[]string{"STATUS_OPEN = 1;", "STATUS_OPEN = 1;\n  STATUS_PACKED = 2;"}},
		{"EV-B03", subject + ".userId", []string{"string userid = 9;", "string userId = 13;"},
			[]string{"string note = 12;", "string note = 12;\n  string user_name = 13;"}},
		{"EV-V01", subject + ".order_id", []string{"string.min_len = 1]", "string.min_len = 2]"},
			[]string{"string note = 12;", "string note = 12 [(buf.validate.field).string.max_len = 10];"}[:0]},
		{"EV-V01", subject + ".tag", []string{"string tag = 5;", "string tag = 5 [(buf.validate.field).string.min_len = 1];"},
			[]string{"string note = 12;", "string note = 12;\n  string region = 13 [(buf.validate.field).string.min_len = 1];"}},
		{"EV-V02", subject + ".region", []string{"string note = 12;", "string note = 12;\n  string region = 13 [(buf.validate.field).required = true];"},
			[]string{"string note = 12;", "string note = 12;\n  string region = 13 [(buf.validate.field).string.max_len = 8];"}},
	}
	prior := version(t, base)
	for _, c := range cases {
		t.Run(c.rule+"/"+c.path, func(t *testing.T) {
			t.Parallel()
			bad := compat.Admit(version(t, base, c.bad...), []*contract.Schema{prior})
			if !has(bad, c.rule, c.path) {
				t.Fatalf("breaking change not reported as %s at %s; got %v", c.rule, c.path, bad)
			}
			for _, v := range bad {
				if v.Message == "" || compat.RuleName(v.Rule) == "" {
					t.Fatalf("violation without a message or a known rule: %+v", v)
				}
			}
			if len(c.allowed) == 0 {
				return
			}
			if ok := compat.Admit(version(t, base, c.allowed...), []*contract.Schema{prior}); len(ok) != 0 {
				t.Fatalf("allowed change was rejected: %v", ok)
			}
		})
	}
}

// minimal is a small contract in either syntax.
const minimal = `syntax = "SYNTAX";
package acme.orders.v1;
import "hem/options/v1/options.proto";
message OrderCreated {
  option (hem.options.v1.event) = {entity_key_field: "order_id"};
  LABEL string order_id = 1;
  LABEL string tag = 5;
}
`

func minimalIn(syntax, tagLabel string) string {
	label := ""
	if syntax == "proto2" {
		label = "optional"
	}
	src := strings.Replace(minimal, "SYNTAX", syntax, 1)
	src = strings.Replace(src, "LABEL", label, 1)
	if tagLabel != "" {
		return strings.Replace(src, "LABEL", tagLabel, 1)
	}
	return strings.Replace(src, "LABEL", label, 1)
}

func TestSyntaxChange(t *testing.T) {
	t.Parallel()
	prior := version(t, minimalIn("proto3", ""))
	got := compat.Check(version(t, minimalIn("proto2", "")), []*contract.Schema{prior})
	if !has(got, "EV-W02", subject) {
		t.Fatalf("proto3 → proto2 not reported as EV-W02: %v", got)
	}
}

func TestLintRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rule, path string
		src        string
		edits      []string
	}{
		{"EV-L01", "", strings.Replace(base, "package acme.orders.v1;", "package acme.orders;", 1), nil},
		{"EV-L02", subject + ".tag", minimalIn("proto2", "required"), nil},
		{"EV-L03", "", base, []string{"int32 quantity = 2", "Item parent = 3;\n  int32 quantity = 2"}},
		{"EV-L05", "", strings.Replace(base, `import "google/protobuf/timestamp.proto";`, "import \"google/protobuf/timestamp.proto\";\nimport \"google/protobuf/any.proto\";", 1), []string{"string note = 12;", "string note = 12;\n  google.protobuf.Any payload = 13;"}},
		{"EV-L06", "", base, []string{"string note = 12;", "string note = 12;\n  string _PARTITION_key = 13;"}},
		{"EV-L07", "", base, []string{"string note = 12;", "string note = 12;\n  string userId = 13;"}},
		{"EV-L08", "", strings.Replace(base, `import "google/protobuf/timestamp.proto";`, "import \"google/protobuf/timestamp.proto\";\nimport \"google/protobuf/empty.proto\";", 1), nil},
		{"EV-L09", "", base, []string{"(buf.validate.field).string.min_len = 1", `(buf.validate.field).cel = {id: "x", expression: "this >"}`}},
		{"EV-L10", "", base, []string{`entity_key_field: "order_id"`, `entity_key_field: "nope"`}},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			t.Parallel()
			got := compat.Lint(version(t, c.src, c.edits...))
			if !has(got, c.rule, c.path) {
				t.Fatalf("not reported as %s: %v", c.rule, got)
			}
		})
	}
	if got := compat.Lint(version(t, base)); len(got) != 0 {
		t.Fatalf("the base contract should pass: %v", got)
	}
}

func TestTransitiveAgainstEveryEarlierVersion(t *testing.T) {
	t.Parallel()
	v1 := version(t, base)
	v2 := version(t, base, "  string coupon = 7;\n", "  reserved 7;\n") // (rejected in reality; a history with a gap)
	v3 := version(t, base, "string coupon = 7;", "int64 coupon = 7;")
	// Against v2 alone, coupon is a new field; against v1 it changed type.
	if got := compat.Check(v3, []*contract.Schema{v2}); has(got, "EV-W06", "") {
		t.Fatalf("v3 vs v2 only should not see a type change: %v", got)
	}
	if got := compat.Check(v3, []*contract.Schema{v1, v2}); !has(got, "EV-W06", subject+".coupon") {
		t.Fatalf("the delete-then-re-add-with-a-new-type sequence was missed: %v", got)
	}
}

func TestViolationsAreReportedOnce(t *testing.T) {
	t.Parallel()
	prior := []*contract.Schema{version(t, base), version(t, base, "string note = 12;", "string note = 12;\n  string a = 13;")}
	got := compat.Admit(version(t, base, "string tag = 5;", "int64 tag = 5;"), prior)
	n := 0
	for _, v := range got {
		if v.Rule == "EV-W06" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("EV-W06 reported %d times against two earlier versions: %v", n, got)
	}
}

func TestNewMajorIsANewSubject(t *testing.T) {
	t.Parallel()
	v2 := version(t, strings.Replace(base, "package acme.orders.v1;", "package acme.orders.v2;", 1), "int32 quantity = 2", "int64 quantity = 2")
	if v2.Subject != "acme.orders.v2.OrderCreated" {
		t.Fatalf("subject %s", v2.Subject)
	}
	// The registry passes only earlier versions of the same subject: none.
	if got := compat.Admit(v2, nil); len(got) != 0 {
		t.Fatalf("a new major with a type change should register cleanly: %v", got)
	}
}

var samples = sync.OnceValues(func() ([]*contract.Schema, error) {
	src, err := contract.CompileDir(context.Background(), filepath.Join("..", "..", "proto"))
	if err != nil {
		return nil, err
	}
	return src.Schemas()
})

func TestSampleContractsPassLint(t *testing.T) {
	t.Parallel()
	all, err := samples()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if strings.HasPrefix(s.Subject, "hem.") {
			continue // hem's own types are built in, not registered
		}
		if got := compat.Lint(s); len(got) != 0 {
			t.Errorf("%s: %v", s.Subject, got)
		}
		if got := compat.Admit(s, []*contract.Schema{s}); len(got) != 0 {
			t.Errorf("%s against itself: %v", s.Subject, got)
		}
	}
}

func BenchmarkAdmit(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "shop", "orders", "v1", "events.proto"))
	if err != nil {
		b.Fatal(err)
	}
	common, _ := os.ReadFile(filepath.Join("..", "..", "proto", "shop", "common", "v1", "common.proto"))
	build := func(extra int) *contract.Schema {
		src := string(raw)
		var add strings.Builder
		for i := range extra {
			add.WriteString("  // Added in a later version.\n  optional string extra" + strings.Repeat("x", 0) + itoa(i) + " = " + itoa(100+i) + ";\n")
		}
		src = strings.Replace(src, "  string gift_message = 14", add.String()+"  string gift_message = 14", 1)
		s, err := contract.CompileSources(context.Background(), map[string]string{
			"shop/orders/v1/events.proto": src, "shop/common/v1/common.proto": string(common)})
		if err != nil {
			b.Fatal(err)
		}
		sc, err := s.Schema("shop.orders.v1.OrderPlaced")
		if err != nil {
			b.Fatal(err)
		}
		return sc
	}
	var prior []*contract.Schema
	for i := range 50 {
		prior = append(prior, build(i))
	}
	candidate := build(50)
	b.ReportAllocs()
	for b.Loop() {
		if v := compat.Admit(candidate, prior); len(v) != 0 {
			b.Fatal(v)
		}
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestRenameIsNotAJSONNameChange(t *testing.T) {
	t.Parallel()
	got := compat.Check(version(t, base, "string userid = 9;", "string customer_id = 9;"), []*contract.Schema{version(t, base)})
	if !has(got, "EV-J01", subject+".userid") || has(got, "EV-J02", "") {
		t.Fatalf("a rename is EV-J01 alone (no json_name was set by hand): %v", got)
	}
}
