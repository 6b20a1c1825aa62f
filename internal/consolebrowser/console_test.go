package consolebrowser_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/internal/devstack"
	"github.com/hemlabs/hem/registry"
)

// The events the test sends, by id (UUIDv7-shaped, so the collector keeps them).
const (
	goodOrder    = "019a0000-0000-7000-8000-00000000a001"
	badOrder     = "019a0000-0000-7000-8000-00000000b001" // examples/bad-order.json
	stillInvalid = "019a0000-0000-7000-8000-00000000b002" // an order with no items
	goodMember   = "019a0000-0000-7000-8000-00000000c001"
	badMember    = "019a0000-0000-7000-8000-00000000c002" // born in 1850
	unknownEvent = "019a0000-0000-7000-8000-00000000dead"
)

// piiValues are the values the test sends in the members' PII fields
// (proto/shop/members/v1: email, phone, full_name, address). None may reach
// a page: the console masks them, the collector hashes, redacts or drops them.
var piiValues = []string{"ada.lovelace@example.com", "+447700900461", "Ada Lovelace",
	"12 Analytical Row", "N1 9GU", "Babbageton"}

func member(birthYear int) []byte {
	return fmt.Appendf(nil, `{"memberId": "M-1815", "email": "ada.lovelace@example.com", "phone": "+447700900461",
		"fullName": "Ada Lovelace", "address": {"line1": "12 Analytical Row", "postalCode": "N1 9GU", "city": "Babbageton", "countryCode": "GB"},
		"birthYear": %d, "tier": "TIER_GOLD", "homeStoreId": "S-007", "registeredAt": "2026-11-22T09:00:00Z"}`, birthYear)
}

func readExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConsoleInBrowser drives the console of a running hem dev as a person
// would, in headless chromium, and checks what each page shows.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	exe := needBrowser(t)
	began := time.Now()
	st := startStack(t)

	noItems := strings.Replace(string(readExample(t, "order.json")), `"items": [{"sku": "SKU-1001", "name": "Organic bananas 1 kg", "quantity": 2, "unitPrice": {"currencyCode": "EUR", "amountMicros": "1990000"}}]`, `"items": []`, 1)
	for _, e := range []struct {
		subject, id string
		payload     []byte
		want        string
	}{
		{"shop.orders.v1.OrderPlaced", goodOrder, readExample(t, "order.json"), "ACCEPTED"},
		{"shop.orders.v1.OrderPlaced", badOrder, readExample(t, "bad-order.json"), "REJECTED"},
		{"shop.orders.v1.OrderPlaced", stillInvalid, []byte(noItems), "REJECTED"},
		{"shop.members.v1.MemberRegistered", goodMember, member(1815 + 200), "ACCEPTED"},
		{"shop.members.v1.MemberRegistered", badMember, member(1850), "REJECTED"},
	} {
		if got := emit(t, st, e.subject, e.id, e.payload); got != e.want {
			t.Fatalf("emitting %s %s: %s, want %s", e.subject, e.id, got, e.want)
		}
	}
	eventually(t, "the warehouse holds the 2 accepted events and the 3 failures", func() bool {
		return count(t, st, "select count(*) from _failed_events") == 3 &&
			count(t, st, "select count(*) from shop_orders_v1_order_placed")+count(t, st, "select count(*) from shop_members_v1_member_registered") == 2
	})

	b := openBrowser(t, st, exe)
	b.login()

	t.Run("contracts list every sample subject", func(t *testing.T) {
		b := b.on(t)
		status, text := b.open("/ui/contracts")
		if status != http.StatusOK {
			t.Fatalf("/ui/contracts answered %d: %s", status, text)
		}
		for _, p := range st.Pushed {
			if !strings.Contains(text, p.Subject) {
				t.Errorf("the contracts page does not list %s", p.Subject)
			}
		}
		if !strings.Contains(text, "email") {
			t.Errorf("the contracts page names no PII field (members' email):\n%s", text)
		}
		b.screenshot("contracts")
	})

	t.Run("a subject with two versions shows their diff", func(t *testing.T) {
		b := b.on(t)
		pushEdit(t, st, "shop/orders/v1/events.proto", "shop.orders.v1.OrderPlaced",
			"  string gift_message = 14 [(buf.validate.field).string.max_len = 500];\n",
			"  string gift_message = 14 [(buf.validate.field).string.max_len = 500];\n  // A note for the picker, if the customer left one.\n  string picker_note = 15;\n")
		status, text := b.open("/ui/contracts/" + "shop.orders.v1.OrderPlaced")
		if status != http.StatusOK {
			t.Fatalf("the subject page answered %d: %s", status, text)
		}
		for _, want := range []string{"v2", "browser-test", "order_id", "uuid:true", "picker_note", "syntax = \"proto3\";"} {
			if !strings.Contains(text, want) {
				t.Errorf("the subject page does not show %q:\n%s", want, text)
			}
		}
		b.screenshot("contract")
		status, text = b.follow(`a[href$="/diff?from=1&to=2"]`)
		if status != http.StatusOK {
			t.Fatalf("the diff answered %d: %s", status, text)
		}
		if !regexp.MustCompile(`(?m)^added\s.*picker_note`).MatchString(text) || !strings.Contains(text, "v2 is compatible with v1") {
			t.Errorf("the diff of v1 and v2 does not show picker_note added, compatible:\n%s", text)
		}
		b.screenshot("diff")
	})

	t.Run("a rejected order appears in its failed-events group with its rule ids", func(t *testing.T) {
		b := b.on(t)
		status, text := b.open("/ui/failed")
		if status != http.StatusOK {
			t.Fatalf("/ui/failed answered %d: %s", status, text)
		}
		for _, want := range []string{"shop.orders.v1.OrderPlaced", "string.uuid", "int32.gt_lte", "repeated.min_items", "shop.members.v1.MemberRegistered"} {
			if !strings.Contains(text, want) {
				t.Errorf("the failed events page does not show %q:\n%s", want, text)
			}
		}
		b.screenshot("failed")
		status, text = b.follow(`a[href*="rule=string.uuid"]`)
		if status != http.StatusOK {
			t.Fatalf("the group answered %d: %s", status, text)
		}
		for _, want := range []string{badOrder, "string.uuid", "not-a-uuid"} {
			if !strings.Contains(text, want) {
				t.Errorf("the group does not show %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, stillInvalid) {
			t.Errorf("the string.uuid group lists %s, which broke only repeated.min_items", stillInvalid)
		}
		b.screenshot("failed-group")
	})

	t.Run("fix the rejected order on the page, replay it, its row is in the warehouse once", func(t *testing.T) {
		b := b.on(t)
		b.open("/ui/failed")
		b.follow(`a[href*="rule=string.uuid"]`)
		ev := "#ev-" + badOrder
		b.do("open the edit form", chromedp.Click(chromedp.CSS(ev+` details:has(textarea) > summary`)))
		editable, err := chromedp.Run(b.tab, chromedp.Evaluate[string](`document.querySelector("`+ev+` textarea[name=payload]").value`))
		if err != nil {
			t.Fatalf("the group page offers no payload to edit for %s: %v", badOrder, err)
		}
		b.do("edit the payload", chromedp.SetValue(chromedp.CSS(ev+` textarea[name=payload]`), fixOrder(t, editable)))
		b.screenshot("replay-edit")
		status, text := b.follow(ev + ` form button[type=submit]`)
		if status != http.StatusOK || !strings.Contains(text, "all 1 events pass") {
			t.Fatalf("the dry run of the fixed order answered %d:\n%s", status, text)
		}
		if n := count(t, st, "select count(*) from shop_orders_v1_order_placed where _event_id = '"+badOrder+"'"); n != 0 {
			t.Fatalf("the dry run put %d rows of %s in the warehouse", n, badOrder)
		}
		status, text = b.follow(`button[name=mode][value=all]`)
		if status != http.StatusOK || !strings.Contains(text, "accepted all 1 events") {
			t.Fatalf("the replay answered %d:\n%s", status, text)
		}
		b.screenshot("replay")
		eventually(t, badOrder+" in the warehouse", func() bool {
			return count(t, st, "select count(*) from shop_orders_v1_order_placed where _event_id = '"+badOrder+"'") == 1
		})
		// A second replay of the group sends nothing: the event is in.
		b.open("/ui/failed")
		_, text = b.follow(`a[href*="rule=string.uuid"]`)
		if !strings.Contains(text, "in the warehouse now") {
			t.Errorf("the group does not say %s is in the warehouse now:\n%s", badOrder, text)
		}
		_, text = b.follow(`form[action="/ui/failed/replay"] button[type=submit]`)
		if !strings.Contains(text, "Nothing to replay") {
			t.Errorf("replaying the group again offers to send something:\n%s", text)
		}
		time.Sleep(time.Second) // anything sent would be in by now
		if n := count(t, st, "select count(*) from shop_orders_v1_order_placed where _event_id = '"+badOrder+"'"); n != 1 {
			t.Errorf("the warehouse holds %d rows of %s, want 1", n, badOrder)
		}
	})

	t.Run("a replay of a still-invalid event says so and sends nothing", func(t *testing.T) {
		b := b.on(t)
		b.open("/ui/failed")
		b.follow(`a[href*="rule=repeated.min_items"]`)
		status, text := b.follow(`form[action="/ui/failed/replay"] button[type=submit]`)
		if status != http.StatusOK || !strings.Contains(text, "1 of 1 events are still invalid") || !strings.Contains(text, "repeated.min_items") {
			t.Errorf("the dry run of a still-invalid event answered %d:\n%s", status, text)
		}
		b.screenshot("replay-invalid")
		// Sending it anyway (if the page offers it) sends nothing either.
		if strings.Contains(text, "event(s) now") {
			_, text = b.follow(`button[name=mode][value=all]`)
			if !strings.Contains(text, "Nothing was sent") {
				t.Errorf("resending a still-invalid event answered:\n%s", text)
			}
		}
		time.Sleep(time.Second)
		if n := count(t, st, "select count(*) from shop_orders_v1_order_placed where _event_id = '"+stillInvalid+"'"); n != 0 {
			t.Errorf("the warehouse holds %d rows of the still-invalid %s", n, stillInvalid)
		}
	})

	t.Run("bad input gets a clear message", func(t *testing.T) {
		b := b.on(t)
		for _, c := range []struct{ path, want string }{
			{"/ui/contracts/shop.nope.v1.Nothing", "shop.nope.v1.Nothing"},
			{"/ui/contracts/shop.orders.v1.OrderPlaced/v/99", "99"},
			{"/ui/events?id=" + unknownEvent, unknownEvent},
		} {
			status, text := b.open(c.path)
			if status < 400 || status >= 500 || !strings.Contains(text, c.want) {
				t.Errorf("%s answered %d, want a 4xx page naming %q:\n%s", c.path, status, c.want, text)
			}
		}
	})

	t.Run("SQL: a query's rows with PII masked, a malformed query's message", func(t *testing.T) {
		b := b.on(t)
		run := func(query string) (int, string) {
			b.open("/ui/sql")
			b.do("type the query", chromedp.SetValue(chromedp.CSS(`#sql-q`), query))
			return b.follow(`form[action="/ui/sql"] button[type=submit]`)
		}
		status, text := run("select member_id, email, phone, full_name, address, birth_year from shop_members_v1_member_registered")
		if status != http.StatusOK || !strings.Contains(text, "M-1815") || !strings.Contains(text, "pii") {
			t.Errorf("the members' rows answered %d:\n%s", status, text)
		}
		b.screenshot("sql")
		status, text = run("selec * from shop_orders_v1_order_placed")
		if status < 400 || status >= 500 || !strings.Contains(text, "The query did not run") || !strings.Contains(text, "selec") {
			t.Errorf("a malformed query answered %d, want a 4xx page saying what is wrong:\n%s", status, text)
		}
	})

	t.Run("every page opens", func(t *testing.T) {
		b := b.on(t)
		for _, c := range []struct{ path, shot string }{
			{"/ui/live", "live"},
			{"/ui/events?id=" + goodOrder, "find"},
			{"/ui/events?id=" + badMember, ""},
			{"/ui/events?id=" + goodMember, ""},
			{"/ui/sources", ""},
			{"/ui/archive", ""},
		} {
			status, text := b.open(c.path)
			if status != http.StatusOK {
				t.Errorf("%s answered %d:\n%s", c.path, status, text)
			}
			if c.shot != "" {
				b.screenshot(c.shot)
			}
		}
	})

	t.Run("a member's failure shows its payload with the PII fields masked", func(t *testing.T) {
		b := b.on(t)
		b.open("/ui/failed")
		status, text := b.follow(`a[href*="type=shop.members.v1.MemberRegistered"]`)
		if status != http.StatusOK || !strings.Contains(text, badMember) || !strings.Contains(text, "int32.gte_lte") || !strings.Contains(text, "PII fields are masked") {
			t.Errorf("the members' group answered %d:\n%s", status, text)
		}
		b.screenshot("failed-pii")
	})

	// Last: it reads every page the other steps showed.
	t.Run("no PII value of a sample contract on any page", func(t *testing.T) {
		b.seen.mu.Lock()
		defer b.seen.mu.Unlock()
		if len(b.seen.pages) < 10 {
			t.Errorf("only %d pages were shown; the check needs the others to have run", len(b.seen.pages))
		}
		for _, page := range slices.Sorted(maps.Keys(b.seen.pages)) {
			for _, v := range piiValues {
				if strings.Contains(b.seen.pages[page], v) {
					t.Errorf("%s shows the PII value %q", page, v)
				}
			}
		}
	})
	t.Logf("the browser test took %v", time.Since(began).Round(time.Millisecond))
}

// pushEdit registers a second version of subject: the samples with old
// replaced by new in file, through the registry as hem schema push does.
func pushEdit(t *testing.T, st *devstack.Stack, file, subject, old, new string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../proto")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, file)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), old) {
		t.Fatalf("%s no longer holds %q: update the test's edit", file, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(src), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	compiled, err := contract.CompileDir(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	md, ok := compiled.Message(subject)
	if !ok {
		t.Fatalf("%s is not in the edited samples", subject)
	}
	set, err := proto.Marshal(contract.DescriptorSet(md.ParentFile()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := registry.Dial(t.Context(), st.RegistryAddr, registry.WithAPIKey(st.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Register(t.Context(), &registryv1.RegisterRequest{FileDescriptorSet: set, Subjects: []string{subject}, Commit: "browser-test"})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.GetResults(); len(r) != 1 || r[0].GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_NEW || r[0].GetVersion() != 2 {
		out, _ := json.Marshal(r)
		t.Fatalf("pushing the edit of %s: %s, want a NEW version 2", subject, out)
	}
}

// fixOrder corrects what examples/bad-order.json gets wrong (order_id is
// not a UUID, the first item's quantity is 0) in the payload the page
// offers to edit.
func fixOrder(t *testing.T, editable string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(editable), &m); err != nil {
		t.Fatalf("the page's payload is not JSON: %v\n%s", err, editable)
	}
	key := "orderId"
	if _, ok := m["order_id"]; ok {
		key = "order_id"
	}
	if m[key] != "not-a-uuid" {
		t.Fatalf("the page's payload has %s %v, want the bad order's not-a-uuid:\n%s", key, m[key], editable)
	}
	m[key] = "0193a4b2-5c6d-7e8f-9a0b-1c2d3e4f0001"
	items, _ := m["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("the page's payload has items %v:\n%s", m["items"], editable)
	}
	items[0].(map[string]any)["quantity"] = 1
	out, _ := json.MarshalIndent(m, "", "  ")
	return string(out)
}
