package collector_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
)

// A collector checks each event against its contract, answers per event,
// publishes the accepted ones with their envelope to hem-events and the
// rejected ones as FailedEvents to hem-failed. collectortest runs one
// in-process, with an in-memory registry and Pub/Sub; here a device posts
// two events to its HTTP/JSON edge.
func Example() {
	ctx := context.Background()
	stack, err := collectortest.Start(ctx, "../proto")
	if err != nil {
		log.Fatal(err)
	}
	defer stack.Close()

	order := func(quantity int) string {
		return fmt.Sprintf(`{"@type": "type.googleapis.com/shop.orders.v1.OrderPlaced",
			"orderId": "0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b", "memberId": "m-42", "storeId": "ams-01",
			"channel": "CHANNEL_APP", "placedAt": "2026-11-22T10:00:00Z", "pickupStoreId": "ams-01",
			"items": [{"sku": "SKU-1", "quantity": %d, "unitPrice": {"currencyCode": "EUR", "amountMicros": "1990000"}}],
			"total": {"currencyCode": "EUR", "amountMicros": "1990000"}}`, quantity)
	}
	body := `{"events": [{"eventId": "e1", "payload": ` + order(2) + `}, {"eventId": "e2", "payload": ` + order(0) + `}]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+stack.HTTPAddr+"/v1/events", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", collectortest.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	var answer collectorv1.CollectResponse
	if err := protojson.Unmarshal(out, &answer); err != nil {
		log.Fatal(err)
	}
	for _, r := range answer.GetResults() {
		if r.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			fmt.Println(r.GetEventId(), r.GetStatus())
			continue
		}
		fmt.Println(r.GetEventId(), r.GetStatus(), r.GetReason())
	}

	// Each answer is given after Pub/Sub stored the event.
	for _, m := range stack.Published(envelope.EventsTopic) {
		env, err := envelope.Decode(m.Attributes)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(envelope.EventsTopic+":", env.EventID, env.Type, env.Producer)
	}
	fmt.Println(envelope.FailedTopic+":", len(stack.Published(envelope.FailedTopic)), "FailedEvent")
	// Output:
	// e1 EVENT_STATUS_ACCEPTED
	// e2 EVENT_STATUS_REJECTED REASON_VALIDATION_FAILED
	// hem-events: e1 shop.orders.v1.OrderPlaced test-producer
	// hem-failed: 1 FailedEvent
}
