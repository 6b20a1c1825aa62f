package collector_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
)

const orderJSON = `{
  "@type": "type.googleapis.com/shop.orders.v1.OrderPlaced",
  "orderId": "0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
  "memberId": "m-42",
  "storeId": "ams-01",
  "channel": "CHANNEL_APP",
  "items": [{"sku": "SKU-1", "quantity": QTY, "unitPrice": {"currencyCode": "EUR", "amountMicros": "1990000"}}],
  "total": {"currencyCode": "EUR", "amountMicros": "1990000"},
  "placedAt": "2026-11-22T10:00:00Z",
  "pickupStoreId": "ams-01"
}`

func post(t *testing.T, st *collectortest.Stack, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+st.HTTPAddr+"/v1/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPEvents(t *testing.T) {
	t.Parallel()
	st := start(t, collector.WithMetricsHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "# metrics here\n")
	})))
	good := strings.Replace(orderJSON, "QTY", "2", 1)
	bad := strings.Replace(orderJSON, "QTY", "0", 1)
	typo := strings.Replace(good, `"storeId"`, `"storId"`, 1)

	body := `{"events": [
		{"eventId": "h1", "payload": ` + good + `, "attributes": {"device": "kiosk-7"}},
		{"eventId": "h2", "payload": ` + bad + `},
		{"eventId": "h3", "payload": ` + typo + `},
		{"eventId": "h4", "payload": {"@type": "type.googleapis.com/shop.nope.v1.Nope"}}
	]}`
	code, out := post(t, st, collectortest.APIKey, body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, out)
	}
	var resp collectorv1.CollectResponse
	if err := protojson.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	rs := resp.GetResults()
	if len(rs) != 4 {
		t.Fatalf("results %v", rs)
	}
	if rs[0].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Errorf("valid JSON event: %v", rs[0])
	}
	if rs[1].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || !hasViolation(rs[1].GetViolations(), violation("items[0].quantity", "int32.gt_lte")) {
		t.Errorf("invalid quantity: %v", rs[1])
	}
	if rs[2].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || !strings.Contains(rs[2].GetMessage(), "storId") {
		t.Errorf("misspelt field: %v, want a rejection naming storId", rs[2])
	}
	if rs[3].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || rs[3].GetReason().String() != "REASON_UNKNOWN_TYPE" {
		t.Errorf("unknown type: %v", rs[3])
	}
	msgs := st.Published(envelope.EventsTopic)
	if len(msgs) != 1 || msgs[0].Attributes["device"] != "kiosk-7" || msgs[0].Attributes[envelope.AttrEventID] != "h1" {
		t.Errorf("published %v", msgs)
	}
	if n := len(st.Published(envelope.FailedTopic)); n != 3 {
		t.Errorf("%d failed events, want 3", n)
	}

	for _, tt := range []struct {
		name, key, body string
		code            int
	}{
		{"no key", "", body, http.StatusUnauthorized},
		{"not JSON", collectortest.APIKey, "events=1", http.StatusBadRequest},
		{"wrong shape", collectortest.APIKey, `{"evnts": []}`, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, out := post(t, st, tt.key, tt.body); code != tt.code || !strings.Contains(out, `"code"`) {
				t.Errorf("status %d %s, want %d with a code", code, out, tt.code)
			}
		})
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "# metrics here"} {
		resp, err := http.Get("http://" + st.HTTPAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, b)
		}
	}
}
