package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

const ordersPath = "acme/orders/v1/events.proto"

// orders is a small contract with PII, a policy tag and validation rules;
// extra goes into the message.
func orders(extra string) string {
	return fmt.Sprintf(`syntax = "proto3";

package acme.orders.v1;

import "buf/validate/validate.proto";
import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";

// OrderPlaced: a customer placed an order.
message OrderPlaced {
  option (hem.options.v1.event) = {entity_key_field: "order_id"};

  // Order id.
  string order_id = 1 [(buf.validate.field).string.min_len = 1];
  // Units ordered.
  int32 quantity = 2 [(buf.validate.field).int32.gt = 0];
  // Buyer's e-mail.
  string email = 3 [
    (hem.options.v1.field).pii = PII_HANDLING_HASH,
    (hem.options.v1.field).policy_tag = "projects/p/locations/eu/taxonomies/1/policyTags/2"
  ];
  // When it happened.
  google.protobuf.Timestamp placed_at = 4;
%s}
`, extra)
}

// twoVersions: v1, then v2 with a note field added.
func twoVersions(t *testing.T) (get func(string) page, post func(string, url.Values) page) {
	t.Helper()
	reg := startRegistry(t)
	pushSources(t, reg, map[string]string{ordersPath: orders("")})
	pushSources(t, reg, map[string]string{ordersPath: orders("  // Free text from the buyer.\n  string note = 5;\n")})
	srv := newConsole(t, reg)
	return func(p string) page { return getPage(t, srv.URL, p) }, func(p string, f url.Values) page { return postPage(t, srv.URL, p, f) }
}

func TestContractsPages(t *testing.T) {
	t.Parallel()
	get, _ := twoVersions(t)
	cases := []struct {
		name   string
		path   string
		status int
		want   []string
	}{
		{"list", "/ui/contracts", 200, []string{"acme.orders.v1.OrderPlaced", "v2", "USABLE", "acme_orders_v1_order_placed", "email HASH"}},
		{"list filtered", "/ui/contracts?q=nothing-like-it", 200, []string{"No subject matches “nothing-like-it”"}},
		{"subject timeline", "/ui/contracts/acme.orders.v1.OrderPlaced", 200, []string{
			"Versions", "v2", "v1", "diff with v1", "Latest version: v2", "Try a change",
		}},
		{"version: table and options", "/ui/contracts/acme.orders.v1.OrderPlaced/v/1", 200, []string{
			"acme.orders.v1.OrderPlaced v1", "OrderPlaced: a customer placed an order.",
			"Table acme_orders_v1_order_placed", "Partitioned by _event_time (day)", "Entity key order_id",
			"email HASH — the collector stores a keyed hash", "projects/p/locations/eu/taxonomies/1/policyTags/2",
		}},
		{"version: columns with BigQuery types and rules", "/ui/contracts/acme.orders.v1.OrderPlaced/v/1", 200, []string{
			"Columns (BigQuery)", "_event_id STRING REQUIRED", "quantity INT64 NULLABLE", "int32:{gt:0}",
			"order_id STRING NULLABLE", "string:{min_len:1}", "placed_at TIMESTAMP NULLABLE", "Units ordered.",
		}},
		{"version: the .proto with comments", "/ui/contracts/acme.orders.v1.OrderPlaced/v/2", 200, []string{
			"As .proto: acme/orders/v1/events.proto", "package acme.orders.v1;", "// Free text from the buyer.",
			"string note = 5;", `option (hem.options.v1.event) = {entity_key_field: "order_id"};`, `[(buf.validate.field) = {int32: {gt: 0}}]`,
		}},
		{"version with a v prefix", "/ui/contracts/acme.orders.v1.OrderPlaced/v/v2", 200, []string{"acme.orders.v1.OrderPlaced v2"}},
		{"diff of a compatible change", "/ui/contracts/acme.orders.v1.OrderPlaced/diff?from=1&to=2", 200, []string{
			"Changes from v1 to v2", "None: v2 is compatible with v1.", "added acme.orders.v1.OrderPlaced.note string, field 5",
		}},
		{"diff defaults to the last two", "/ui/contracts/acme.orders.v1.OrderPlaced/diff", 200, []string{"Changes from v1 to v2"}},
		{"diff backwards trips a rule", "/ui/contracts/acme.orders.v1.OrderPlaced/diff?from=2&to=1", 200, []string{
			"the registry would reject v1 after v2", "EV-W04", "field note (number 5) was deleted", "removed acme.orders.v1.OrderPlaced.note",
		}},
		{"diff of one version", "/ui/contracts/acme.orders.v1.OrderPlaced/diff?from=2&to=2", 200, []string{"The same version: nothing to compare."}},
		{"unknown subject", "/ui/contracts/acme.nope.v1.Gone", 404, []string{`There is no contract "acme.nope.v1.Gone" in the registry.`}},
		{"unknown subject's version", "/ui/contracts/acme.nope.v1.Gone/v/1", 404, []string{`There is no contract "acme.nope.v1.Gone"`}},
		{"unknown version", "/ui/contracts/acme.orders.v1.OrderPlaced/v/9", 404, []string{`Contract acme.orders.v1.OrderPlaced has no version "9": its versions are 1 to 2.`}},
		{"not a version", "/ui/contracts/acme.orders.v1.OrderPlaced/v/latest", 404, []string{`has no version "latest"`}},
		{"diff with an unknown version", "/ui/contracts/acme.orders.v1.OrderPlaced/diff?from=0&to=2", 404, []string{`has no version "0"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := get(tc.path)
			if p.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", p.Status, tc.status, p.text())
			}
			mustContain(t, p, tc.want...)
			if tc.status != 200 {
				mustContain(t, p, "Contracts", "Live", "Failed") // the layout, not a bare error
			}
		})
	}
}

func TestTryAChange(t *testing.T) {
	t.Parallel()
	get, post := twoVersions(t)
	v2 := orders("  // Free text from the buyer.\n  string note = 5;\n")
	cases := []struct {
		name   string
		path   string
		proto  string
		status int
		want   []string
	}{
		{"a compatible edit is NEW", ordersPath, orders("  // Free text from the buyer.\n  string note = 5;\n  // Gift?\n  bool gift = 6;\n"), 200, []string{
			"NEW: the registry would admit this as v3 (latest is v2).", "added acme.orders.v1.OrderPlaced.gift",
		}},
		{"the stored text is UNCHANGED", ordersPath, v2, 200, []string{"UNCHANGED: this equals the stored v2"}},
		{"a retyped field is REJECTED with its rule", ordersPath, strings.Replace(v2, "int32 quantity = 2 [(buf.validate.field).int32.gt = 0]", "string quantity = 2", 1), 200, []string{
			"REJECTED", "EV-W", "acme.orders.v1.OrderPlaced.quantity",
		}},
		{"a new subject is NEW", "acme/returns/v1/events.proto", `syntax = "proto3";
package acme.returns.v1;
import "hem/options/v1/options.proto";
message ReturnRequested {
  option (hem.options.v1.event) = {};
  string order_id = 1;
}
`, 200, []string{"NEW: the registry would admit this as v1 (a new subject)."}},
		{"a syntax error names file and line", ordersPath, strings.Replace(v2, "string note = 5;", "string note = ;", 1), 400, []string{
			"The .proto does not compile:", "acme/orders/v1/events.proto:25:",
		}},
		{"an unknown type names file and line", ordersPath, strings.Replace(v2, "string note = 5;", "Nope note = 5;", 1), 400, []string{
			"acme/orders/v1/events.proto:25:3: field acme.orders.v1.OrderPlaced.note: unknown type Nope",
		}},
		{"a missing import", ordersPath, strings.Replace(v2, `import "google/protobuf/timestamp.proto";`, `import "acme/missing.proto";`, 1), 400, []string{
			"The .proto does not compile:", "acme/missing.proto",
		}},
		{"no event in the file", "acme/x/v1/x.proto", "syntax = \"proto3\";\npackage acme.x.v1;\nmessage X { string a = 1; }\n", 400, []string{"The file declares no event type"}},
		{"an empty paste", ordersPath, "  ", 400, []string{"Paste a .proto file to try."}},
		{"a bad path", "../etc/passwd", v2, 400, []string{"must be a relative import path ending in .proto"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := post("/ui/contracts/try", url.Values{"path": {tc.path}, "proto": {tc.proto}})
			if p.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", p.Status, tc.status, p.text())
			}
			mustContain(t, p, tc.want...)
			if !strings.Contains(p.Body, "<textarea") {
				t.Error("the form is not shown again")
			}
		})
	}
	// The form starts from the latest version's file, and trying that as
	// it is gives UNCHANGED: the printed .proto round-trips.
	p := get("/ui/contracts/try?subject=acme.orders.v1.OrderPlaced")
	m := regexp.MustCompile(`(?s)<textarea[^>]*>(.*?)</textarea>`).FindStringSubmatch(p.Body)
	if p.Status != 200 || m == nil {
		t.Fatalf("try form: status %d, no textarea", p.Status)
	}
	printed := page{Body: m[1]}.text()
	if !strings.Contains(m[1], "string note = 5;") {
		t.Fatalf("the form lacks the latest version: %s", printed)
	}
	text := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", `"`, "&#39;", "'", "&#43;", "+").Replace(m[1])
	p = post("/ui/contracts/try", url.Values{"path": {ordersPath}, "proto": {text}, "subject": {"acme.orders.v1.OrderPlaced"}})
	mustContain(t, p, "UNCHANGED: this equals the stored v2")
	if p := get("/ui/contracts/try?subject=acme.nope.v1.Gone"); p.Status != http.StatusNotFound {
		t.Errorf("try an unknown subject: status %d", p.Status)
	}
}

// The sample contracts import shop/common/v1/common.proto: an edit of one
// of them compiles against the stored copy of that file.
func TestTryAChangeResolvesStoredImports(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	pushSamples(t, reg)
	srv := newConsole(t, reg)
	p := getPage(t, srv.URL, "/ui/contracts/try?subject=shop.members.v1.MemberRegistered")
	m := regexp.MustCompile(`(?s)<textarea[^>]*>(.*?)</textarea>`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatal("no textarea")
	}
	text := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", `"`, "&#39;", "'", "&#43;", "+").Replace(m[1])
	if !strings.Contains(text, "shop/common/v1/common.proto") {
		t.Fatalf("the members contract no longer imports common.proto:\n%s", text)
	}
	p = postPage(t, srv.URL, "/ui/contracts/try", url.Values{"path": {"shop/members/v1/events.proto"}, "proto": {text}})
	if p.Status != 200 {
		t.Fatalf("status %d: %s", p.Status, p.text())
	}
	mustContain(t, p, "UNCHANGED")
}

// Every link of the contracts pages leads to a page that renders.
func TestContractsLinksWork(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	pushSamples(t, reg)
	srv := newConsole(t, reg)
	href := regexp.MustCompile(`href="(/ui/contracts[^"#]*)"`)
	seen := map[string]bool{}
	queue := []string{"/ui/contracts"}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if seen[u] {
			continue
		}
		seen[u] = true
		p := getPage(t, srv.URL, u)
		if p.Status != 200 {
			t.Errorf("%s: status %d: %s", u, p.Status, p.text())
			continue
		}
		for _, m := range href.FindAllStringSubmatch(p.Body, -1) {
			queue = append(queue, strings.ReplaceAll(m[1], "&amp;", "&"))
		}
	}
	// The contracts pages show schemas, never values: no e-mail address
	// or phone number (the members contract's PII) on any of them.
	pii := regexp.MustCompile(`[\w.+-]+@[\w-]+\.[a-z]{2,}|\+[1-9][0-9]{6,14}\b`)
	for u := range seen {
		if m := pii.FindString(getPage(t, srv.URL, u).text()); m != "" {
			t.Errorf("%s shows %q", u, m)
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d contracts pages reached: %v", len(seen), seen)
	}
}

// A pasted file that imports several stored files: the compiler resolves
// them from several goroutines (run with -race).
func TestTryAChangeWithSeveralStoredImports(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	common := map[string]string{}
	imports := ""
	fields := ""
	for i := range 6 {
		p := fmt.Sprintf("acme/common/v1/part%d.proto", i)
		common[p] = fmt.Sprintf("syntax = \"proto3\";\npackage acme.common.v1;\n// Part%d is a shared type.\nmessage Part%d { string v = 1; }\n", i, i)
		imports += fmt.Sprintf("import %q;\n", p)
		fields += fmt.Sprintf("  acme.common.v1.Part%d p%d = %d;\n", i, i, i+1)
	}
	event := func(pkg string) string {
		return fmt.Sprintf("syntax = \"proto3\";\npackage %s;\nimport \"hem/options/v1/options.proto\";\n%s\nmessage Shipped {\n  option (hem.options.v1.event) = {};\n%s}\n", pkg, imports, fields)
	}
	sources := map[string]string{"acme/x/v1/events.proto": event("acme.x.v1")}
	for p, s := range common {
		sources[p] = s
	}
	pushSources(t, reg, sources)
	srv := newConsole(t, reg)
	p := postPage(t, srv.URL, "/ui/contracts/try", url.Values{"path": {"acme/y/v1/events.proto"}, "proto": {event("acme.y.v1")}})
	if p.Status != 200 {
		t.Fatalf("status %d: %s", p.Status, p.text())
	}
	mustContain(t, p, "acme.y.v1.Shipped", "NEW: the registry would admit this as v1 (a new subject).")
}
