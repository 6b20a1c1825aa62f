package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hemlabs/hem/console"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/registry/localgcs/localgcstest"
	"github.com/hemlabs/hem/sink/archive"
)

const orderPlaced = "shop.orders.v1.OrderPlaced"

// badOrder is examples/bad-order.json: order_id is not a UUID and
// items[0].quantity is 0.
func badOrder(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../examples/bad-order.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// uuidOnly is bad-order with a valid quantity: only order_id fails.
func uuidOnly(t testing.TB) string {
	return strings.Replace(badOrder(t), `"quantity": 0`, `"quantity": 2`, 1)
}

// fixedOrder is bad-order with both faults fixed.
func fixedOrder(t testing.TB) string {
	return strings.Replace(uuidOnly(t), `"not-a-uuid"`, `"0193a7c4-5a1e-7000-8000-000000000001"`, 1)
}

// viewerAuth is an Authenticator that lets every request in as v.
type viewerAuth struct{ v console.Viewer }

func (a viewerAuth) Authenticate(*http.Request) (console.Viewer, error) { return a.v, nil }

// failedConsole serves a console over the harness: its warehouse, its
// collector as Resender and an audit trail on local GCS.
func failedConsole(t *testing.T, h *harness, auth console.Authenticator, more ...func(*console.Deps)) (*httptest.Server, *console.GCSAudit) {
	t.Helper()
	audit := console.NewGCSAudit(localgcstest.Client(t, "hem-console"), "hem-console")
	deps := console.Deps{Registry: h.registry, Warehouse: h.warehouse, Auth: auth, Collector: h.resender, Audit: audit}
	for _, f := range more {
		f(&deps)
	}
	s, err := console.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, audit
}

func groupURL(typ, rule, path string) string {
	return "/ui/failed/group?" + url.Values{"type": {typ}, "reason": {"REASON_VALIDATION_FAILED"}, "rule": {rule}, "path": {path}}.Encode()
}

func replayForm(typ, rule, path string, kv ...string) url.Values {
	v := url.Values{"type": {typ}, "reason": {"REASON_VALIDATION_FAILED"}, "rule": {rule}, "path": {path}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestFailedGroupsAndTheirEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	now := time.Now()
	unknown := &eventv1.Event{EventId: "e-unknown-1", Payload: &anypb.Any{TypeUrl: "type.googleapis.com/shop.nope.v1.Thing", Value: []byte{8, 1}}}
	h.emit(t, h.event(t, orderPlaced, "e-bad-1", badOrder(t), now), h.event(t, orderPlaced, "e-uuid-1", uuidOnly(t), now), unknown)
	ts := newTestConsole(t, h)

	p := get(t, ts, "/ui/failed")
	if p.Status != http.StatusOK {
		t.Fatalf("status %d: %s", p.Status, p.text())
	}
	// Two events fail string.uuid at order_id, one int32.gt_lte at items[0].quantity.
	mustContain(t, p, orderPlaced, "VALIDATION_FAILED", "string.uuid order_id 2 ", "int32.gt_lte items[0].quantity 1 ", "shop.nope.v1.Thing UNKNOWN_TYPE — — 1 ")
	// Every group link of the page opens its group (a link the template
	// escaped as one value would open nothing).
	links := regexp.MustCompile(`href="(/ui/failed/group\?[^"]+)"`).FindAllStringSubmatch(p.Body, -1)
	if len(links) == 0 {
		t.Fatalf("no group links on the failed page: %s", p.Body)
	}
	for _, l := range links {
		if g := get(t, ts, html.UnescapeString(l[1])); g.Status != http.StatusOK || !strings.Contains(g.text(), orderPlaced) && !strings.Contains(g.text(), "shop.nope.v1.Thing") {
			t.Errorf("the link %s opens %d: %.300s", l[1], g.Status, g.text())
		}
	}

	tests := []struct {
		name       string
		path       string
		status     int
		want, lack []string
	}{
		{"a group with both events", groupURL(orderPlaced, "string.uuid", "order_id"), 200,
			[]string{"e-bad-1", "e-uuid-1", "must be a valid UUID", `"sku": "SKU-1001"`, "shop.orders.v1.OrderPlaced v1", "Replay this group"}, nil},
		{"a group with one", groupURL(orderPlaced, "int32.gt_lte", "items[0].quantity"), 200,
			[]string{"e-bad-1", "must be greater than 0"}, []string{"e-uuid-1"}},
		{"a group without violations", "/ui/failed/group?type=shop.nope.v1.Thing&reason=REASON_UNKNOWN_TYPE&rule=&path=", 200,
			[]string{"e-unknown-1", "The registry has no contract for shop.nope.v1.Thing"}, []string{"e-bad-1"}},
		{"a group with none", groupURL(orderPlaced, "string.email", "email"), 404,
			[]string{"No failed events in the group shop.orders.v1.OrderPlaced · VALIDATION_FAILED · string.email at email"}, nil},
		{"a window that is not one", "/ui/failed?since=2y", 400, []string{`The window "2y" is not one of 1h, 24h, 7d, 30d`}, nil},
		{"a group without a reason", "/ui/failed/group?type=x", 400, []string{"A group names at least its reason"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := get(t, ts, tt.path)
			if p.Status != tt.status {
				t.Errorf("status %d, want %d: %s", p.Status, tt.status, p.text())
			}
			mustContain(t, p, tt.want...)
			for _, l := range tt.lack {
				if strings.Contains(p.text(), l) {
					t.Errorf("page shows %q; it should not", l)
				}
			}
		})
	}
}

func newTestConsole(t *testing.T, h *harness) *httptest.Server {
	t.Helper()
	ts, _ := failedConsole(t, h, console.KeyAuth(testKey))
	return ts
}

// TestFailedEventsMaskPII: a rejected MemberRegistered's PII values (as
// stored: hashed, redacted) never reach the HTML of a viewer without
// MaySeePII, on the group page and on Find; a viewer with it sees them.
func TestFailedEventsMaskPII(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const subject = "shop.members.v1.MemberRegistered"
	payload := `{"memberId": "M-1", "email": "ana@example.com", "phone": "+4512345678", "fullName": "Ana Lima",
		"birthYear": 1800, "registeredAt": "2026-12-01T10:00:00Z", "address": {"line1": "Rua 1"}}`
	res := h.emit(t, h.event(t, subject, "e-member-1", payload, time.Now()))
	if res[0].GetStatus().String() != "EVENT_STATUS_REJECTED" {
		t.Fatalf("the member event was %v, want rejected (birth_year)", res[0])
	}
	// The values as stored in the FailedEvent's original (PII handling applied).
	rows := h.sql(t, "SELECT original FROM _failed_events WHERE event_id = 'e-member-1'")
	var ev eventv1.Event
	if err := proto.Unmarshal(rows[0][0].([]byte), &ev); err != nil {
		t.Fatal(err)
	}
	s, _ := h.st.Schemas.Latest(t.Context(), subject)
	m := s.NewMessage()
	if err := proto.Unmarshal(ev.GetPayload().GetValue(), m); err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, f := range []string{"email", "phone", "full_name"} {
		fd := m.Descriptor().Fields().ByName(protoreflectName(f))
		stored[f] = m.Get(fd).String()
	}
	t.Logf("stored PII values: %v", stored)
	group := "/ui/failed/group?" + url.Values{"type": {subject}, "reason": {"REASON_VALIDATION_FAILED"}, "rule": {"int32.gte_lte"}, "path": {"birth_year"}}.Encode()
	for _, tt := range []struct {
		name   string
		seePII bool
	}{{"masked", false}, {"may see PII", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts, _ := failedConsole(t, h, viewerAuth{console.Viewer{Name: "x", MayReplay: true, MaySeePII: tt.seePII}})
			for _, path := range []string{group, "/ui/events?id=e-member-1"} {
				p := get(t, ts, path)
				if p.Status != http.StatusOK {
					t.Fatalf("%s: status %d: %s", path, p.Status, p.text())
				}
				for f, v := range stored {
					if v == "" {
						continue
					}
					if got := strings.Contains(p.Body, v) || strings.Contains(p.text(), v); got != tt.seePII {
						t.Errorf("%s: the stored %s value %q in the HTML: %v, want %v", path, f, v, got, tt.seePII)
					}
				}
				for _, raw := range []string{"ana@example.com", "Ana Lima", "+4512345678", "Rua 1"} {
					if strings.Contains(p.Body, raw) {
						t.Errorf("%s: the raw PII value %q is on the page", path, raw)
					}
				}
				if path == group && !tt.seePII {
					mustContain(t, p, "•••• (pii: HASH)", "•••• (pii: REDACT)", "M-1")
				}
			}
		})
	}
}

// TestReplayStillInvalidSendsNothing: a group whose events are still
// invalid: the dry run lists each with its violations, a confirmed
// replay sends nothing (422) and says so per event; nothing is audited.
func TestReplayStillInvalidSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.emit(t, h.event(t, orderPlaced, "e-bad-1", badOrder(t), time.Now()), h.event(t, orderPlaced, "e-uuid-1", uuidOnly(t), time.Now()))
	ts, audit := failedConsole(t, h, console.KeyAuth(testKey))
	before := len(h.resender.resent())

	dry := postPage(t, ts.URL, "/ui/failed/replay", replayForm(orderPlaced, "string.uuid", "order_id"))
	if dry.Status != http.StatusOK {
		t.Fatalf("dry run: status %d: %s", dry.Status, dry.text())
	}
	mustContain(t, dry, "Dry run: 2 of 2 events are still invalid", "Nothing was sent", "e-bad-1", "e-uuid-1", "still invalid", "order_id string.uuid")
	if strings.Contains(dry.text(), "Resend 2 event(s) now") {
		t.Error("the dry run offers to resend all though both are invalid")
	}
	for _, mode := range []string{"all", "passing"} {
		p := postPage(t, ts.URL, "/ui/failed/replay", replayForm(orderPlaced, "string.uuid", "order_id", "confirm", "1", "mode", mode))
		if mode == "all" {
			if p.Status != http.StatusUnprocessableEntity {
				t.Fatalf("confirm: status %d, want 422: %s", p.Status, p.text())
			}
			mustContain(t, p, "Nothing was sent: 2 of 2 events are still invalid", "must be a valid UUID")
		} else {
			mustContain(t, p, "Replayed 0 events that pass; 2 still invalid were not sent")
		}
	}
	if got := h.resender.resent(); len(got) != before {
		t.Fatalf("Resend was called %v; a replay of still-invalid events must send nothing", got[before:])
	}
	if es, _ := audit.List(t.Context(), 10); len(es) != 0 {
		t.Errorf("audit entries %+v for a replay that sent nothing", es)
	}
}

// TestReplayAfterAFix: a contract version that drops the UUID rule makes
// one event of the group valid, the other still fails its quantity. All
// or nothing sends none; "only those that pass" sends the valid one,
// keeping its id, and its row is in the warehouse once, even after a
// second replay. The replay is in the audit trail.
func TestReplayAfterAFix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.emit(t, h.event(t, orderPlaced, "e-bad-1", badOrder(t), time.Now()), h.event(t, orderPlaced, "e-uuid-1", uuidOnly(t), time.Now()))
	ts, audit := failedConsole(t, h, console.KeyAuth(testKey))
	h.addVersion(t, orderPlaced, func(s string) string {
		return strings.Replace(s, "string order_id = 1 [(buf.validate.field).string.uuid = true];\n  // Member", "string order_id = 1;\n  // Member", 1)
	})
	form := func(kv ...string) url.Values { return replayForm(orderPlaced, "string.uuid", "order_id", kv...) }

	dry := postPage(t, ts.URL, "/ui/failed/replay", form())
	mustContain(t, dry, "Dry run: 1 of 2 events are still invalid", "Resend only the 1 that pass", "e-uuid-1 shop.orders.v1.OrderPlaced passes")
	all := postPage(t, ts.URL, "/ui/failed/replay", form("confirm", "1", "mode", "all"))
	if all.Status != http.StatusUnprocessableEntity {
		t.Fatalf("all or nothing: status %d, want 422: %s", all.Status, all.text())
	}
	mustContain(t, all, "Nothing was sent: 1 of 2 events are still invalid", "e-uuid-1 shop.orders.v1.OrderPlaced not sent")

	p := postPage(t, ts.URL, "/ui/failed/replay", form("confirm", "1", "mode", "passing"))
	if p.Status != http.StatusOK {
		t.Fatalf("passing: status %d: %s", p.Status, p.text())
	}
	mustContain(t, p, "Replayed 1 events that pass; 1 still invalid were not sent", "e-uuid-1 shop.orders.v1.OrderPlaced accepted", "e-bad-1 shop.orders.v1.OrderPlaced still invalid", "Recorded in the audit trail")
	h.drain(t)
	if n := h.sql(t, `SELECT count(*) FROM shop_orders_v1_order_placed WHERE _event_id = 'e-uuid-1'`)[0][0]; fmt.Sprint(n) != "1" {
		t.Fatalf("rows of e-uuid-1 after the replay: %v, want 1", n)
	}
	// Again: the replayed event is in the warehouse, so it is left out.
	again := postPage(t, ts.URL, "/ui/failed/replay", form("confirm", "1", "mode", "passing"))
	mustContain(t, again, "e-uuid-1 shop.orders.v1.OrderPlaced left out in the warehouse already")
	h.drain(t)
	if n := h.sql(t, `SELECT count(*) FROM shop_orders_v1_order_placed`)[0][0]; fmt.Sprint(n) != "1" {
		t.Fatalf("rows after a second replay: %v, want 1", n)
	}
	grp := get(t, ts, groupURL(orderPlaced, "string.uuid", "order_id"))
	mustContain(t, grp, "e-uuid-1 in the warehouse now")
	es, err := audit.List(t.Context(), 10)
	if err != nil || len(es) != 1 || es[0].Action != "replay" || es[0].Sent != 1 || es[0].Results["ACCEPTED"] != 1 || fmt.Sprint(es[0].Events) != "[e-uuid-1]" || es[0].Viewer != "api key" {
		t.Fatalf("audit: %+v, %v; want one replay of e-uuid-1, accepted", es, err)
	}
}

// TestEditAndReplay: an event fixed by hand on the group page is resent
// with its id; Find then says it was accepted after its failure.
func TestEditAndReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	at := time.Now().UTC()
	h.emit(t, h.event(t, orderPlaced, "e-bad-1", badOrder(t), at))
	ts, _ := failedConsole(t, h, console.KeyAuth(testKey))

	still := postPage(t, ts.URL, "/ui/failed/replay", url.Values{"id": {"e-bad-1"}, "payload": {uuidOnly(t)}, "confirm": {"1"}})
	if still.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a still-invalid edit: status %d, want 422: %s", still.Status, still.text())
	}
	mustContain(t, still, "Nothing was sent: 1 of 1 events are still invalid", "order_id string.uuid")

	for _, tt := range []struct {
		name, id, payload string
		status            int
		want              string
	}{
		{"unknown id", "e-nope", fixedOrder(t), 404, `No failed event has the id "e-nope"`},
		{"not JSON of the contract", "e-bad-1", `{"orderId": 5}`, 400, "The edited payload is not a shop.orders.v1.OrderPlaced in JSON"},
	} {
		p := postPage(t, ts.URL, "/ui/failed/replay", url.Values{"id": {tt.id}, "payload": {tt.payload}})
		if p.Status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, p.Status, tt.status, p.text())
		}
		mustContain(t, p, tt.want)
	}

	dry := postPage(t, ts.URL, "/ui/failed/replay", url.Values{"id": {"e-bad-1"}, "payload": {fixedOrder(t)}})
	mustContain(t, dry, "Dry run: all 1 events pass", "Resend 1 event(s) now")
	ok := postPage(t, ts.URL, "/ui/failed/replay", url.Values{"id": {"e-bad-1"}, "payload": {fixedOrder(t)}, "confirm": {"1"}, "mode": {"all"}})
	if ok.Status != http.StatusOK {
		t.Fatalf("status %d: %s", ok.Status, ok.text())
	}
	mustContain(t, ok, "Replayed: the collector accepted all 1 events.")
	h.drain(t)
	find := get(t, ts, "/ui/events?id=e-bad-1")
	mustContain(t, find, "Accepted: its row is in shop_orders_v1_order_placed. It was rejected 1 time(s) before",
		"_event_id e-bad-1", "order_id 0193a7c4-5a1e-7000-8000-000000000001", fmt.Sprintf("events/type=shop.orders.v1.OrderPlaced/dt=%s/hour=%02d/", at.Format("2006-01-02"), at.Hour()))
}

func TestFindAnEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.emit(t, h.event(t, orderPlaced, "e-bad-1", badOrder(t), time.Now()), h.event(t, orderPlaced, "e-good-1", fixedOrder(t), time.Now()))
	ts := newTestConsole(t, h)
	for _, tt := range []struct {
		name, id string
		status   int
		want     []string
	}{
		{"accepted", "e-good-1", 200, []string{"Accepted: its row is in shop_orders_v1_order_placed.", "_schema_version 1", "store_id S-007"}},
		{"rejected", "e-bad-1", 200, []string{"Rejected at validate: VALIDATION_FAILED", "items[0].quantity int32.gt_lte", `"memberId": "M-00042"`}},
		{"unknown", "e-nowhere", 404, []string{`Nothing was found for the event id "e-nowhere": no failed event in _failed_events, no row in the tables of`, "shop_orders_v1_order_placed", "shop_members_v1_member_registered"}},
		{"too long", strings.Repeat("x", 300), 400, []string{"An event id has at most 256 characters"}},
		{"no id: the form", "", 200, []string{"Find an event"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := get(t, ts, "/ui/events?id="+url.QueryEscape(tt.id))
			if p.Status != tt.status {
				t.Errorf("status %d, want %d: %s", p.Status, tt.status, p.text())
			}
			mustContain(t, p, tt.want...)
		})
	}
}

// TestReplayNeedsCSRF: in a browser session (cookie), a replay without
// the form's token or with a forged one is refused and sends nothing;
// with the page's token it runs.
func TestReplayNeedsCSRF(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.emit(t, h.event(t, orderPlaced, "e-bad-1", badOrder(t), time.Now()))
	ts := newTestConsole(t, h)
	c := browser(t)
	login := url.Values{"key": {testKey}, "next": {"/ui/failed"}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+"/ui/login", strings.NewReader(login.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p := do(t, c, req); p.Status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", p.Status, p.text())
	}
	greq, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, ts.URL+groupURL(orderPlaced, "string.uuid", "order_id"), nil)
	grp := do(t, c, greq)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(grp.Body)
	if m == nil {
		t.Fatalf("no CSRF token on the group page: %s", grp.text())
	}
	before := len(h.resender.resent())
	for _, tt := range []struct {
		name, token string
		status      int
	}{{"missing", "", 403}, {"forged", "AAAAforged", 403}, {"the page's", m[1], 200}} {
		form := replayForm(orderPlaced, "string.uuid", "order_id")
		if tt.token != "" {
			form.Set("csrf", tt.token)
		}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+"/ui/failed/replay", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p := do(t, c, req)
		if p.Status != tt.status {
			t.Errorf("%s token: status %d, want %d: %s", tt.name, p.Status, tt.status, p.text())
		}
		if tt.status == 403 {
			mustContain(t, p, "This form expired or came from another site")
		}
	}
	if got := h.resender.resent(); len(got) != before {
		t.Errorf("Resend called %v", got[before:])
	}
}

// TestFindShowsTheArchiveObject: with the archive (GCSArchive) in Deps,
// Find names the Parquet object holding an accepted event.
func TestFindShowsTheArchiveObject(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gcs := localgcstest.Client(t, "archive")
	a, err := archive.New(gcs, "archive", archive.WithWriterID("w1"))
	if err != nil {
		t.Fatal(err)
	}
	h.archive = a
	at := time.Now().UTC()
	h.emit(t, h.event(t, orderPlaced, "e-good-1", fixedOrder(t), at))
	ts, _ := failedConsole(t, h, console.KeyAuth(testKey), func(d *console.Deps) { d.Archive = console.NewArchive(gcs.Bucket("archive"), "events/") })
	p := get(t, ts, "/ui/events?id=e-good-1")
	prefix := fmt.Sprintf("gs://archive/events/type=shop.orders.v1.OrderPlaced/dt=%s/hour=%02d/w1-", at.Format("2006-01-02"), at.Hour())
	mustContain(t, p, "Accepted", "Archive: "+prefix)
}

// TestReplayNeedsThePermissionAndACollector: a viewer without MayReplay
// gets no replay button and a 403 for the POST; a console without a
// collector says it cannot replay.
func TestReplayNeedsThePermissionAndACollector(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.emit(t, h.event(t, orderPlaced, "e-bad-1", badOrder(t), time.Now()))
	reader, _ := failedConsole(t, h, viewerAuth{console.Viewer{Name: "reader"}})
	noCollector, _ := failedConsole(t, h, console.KeyAuth(testKey), func(d *console.Deps) { d.Collector = nil })
	form := replayForm(orderPlaced, "string.uuid", "order_id", "confirm", "1")
	for _, tt := range []struct {
		name   string
		ts     *httptest.Server
		status int
		want   string
	}{
		{"no permission", reader, 403, "You may not replay events"},
		{"no collector", noCollector, 404, "This console has no collector configured"},
	} {
		if g := get(t, tt.ts, groupURL(orderPlaced, "string.uuid", "order_id")); strings.Contains(g.text(), "Replay this group") || strings.Contains(g.text(), "Edit and replay") {
			t.Errorf("%s: the group page offers a replay", tt.name)
		}
		p := postPage(t, tt.ts.URL, "/ui/failed/replay", form)
		if p.Status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, p.Status, tt.status, p.text())
		}
		mustContain(t, p, tt.want)
	}
	if got := h.resender.resent(); len(got) != 1 { // the emit
		t.Errorf("Resend calls %v, want only the emit", got)
	}
}

// TestReplayInBatches: a group larger than one replay is replayed newest
// first, batch by batch; the events a batch got into the warehouse do not
// hide the older ones (the next batch starts before the oldest of it).
// Not parallel: it lowers the batch size.
func TestReplayInBatches(t *testing.T) { //nolint:paralleltest // SetMaxReplayBatch
	defer console.SetMaxReplayBatch(1)()
	h := newHarness(t)
	h.emit(t, h.event(t, orderPlaced, "e-old", uuidOnly(t), time.Now()))
	h.emit(t, h.event(t, orderPlaced, "e-new", uuidOnly(t), time.Now()))
	h.addVersion(t, orderPlaced, func(s string) string {
		return strings.Replace(s, "string order_id = 1 [(buf.validate.field).string.uuid = true];\n  // Member", "string order_id = 1;\n  // Member", 1)
	})
	ts, _ := failedConsole(t, h, console.KeyAuth(testKey))
	next := regexp.MustCompile(`name="before" value="([^"]+)">\s*<button type="submit">Next, older`)
	first := postPage(t, ts.URL, "/ui/failed/replay", replayForm(orderPlaced, "string.uuid", "order_id", "confirm", "1"))
	mustContain(t, first, "Replayed: the collector accepted all 1 events.", "e-new", "Next, older failures")
	m := next.FindStringSubmatch(first.Body)
	if m == nil {
		t.Fatalf("no next batch offered: %s", first.Body)
	}
	h.drain(t)
	// The newest batch again: e-new is in the warehouse now, left out.
	again := postPage(t, ts.URL, "/ui/failed/replay", replayForm(orderPlaced, "string.uuid", "order_id", "confirm", "1"))
	mustContain(t, again, "Nothing to replay", "Next, older failures")
	second := postPage(t, ts.URL, "/ui/failed/replay", replayForm(orderPlaced, "string.uuid", "order_id", "confirm", "1", "before", m[1]))
	mustContain(t, second, "Replayed: the collector accepted all 1 events.", "e-old")
	h.drain(t)
	if n := h.sql(t, `SELECT count(*) FROM shop_orders_v1_order_placed`)[0][0]; fmt.Sprint(n) != "2" {
		t.Fatalf("rows after two batches: %v, want 2", n)
	}
}
