package collector_test

import (
	"context"
	"fmt"
	"log"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
)

// An edge of its own (here, lines of a file) hands the collector's core
// the events it read, and the ones it could not read as rejections: each
// gets a result, and the rejected one is recorded on hem-failed.
func ExampleCollector_Ingest() {
	ctx := context.Background()
	st, err := collectortest.Start(ctx, "../proto")
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	payload, err := anypb.New(&productsv1.PriceChanged{
		Sku:         "SKU-0001",
		OldPrice:    &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 1_990_000},
		NewPrice:    &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 1_490_000},
		EffectiveAt: timestamppb.Now(),
	})
	if err != nil {
		log.Fatal(err)
	}
	in := []collector.Input{
		{Event: &eventv1.Event{EventId: "line-1", Payload: payload}},
		{
			// What the edge could read of line 2, and why it gave up.
			Event: &eventv1.Event{EventId: "line-2", Payload: &anypb.Any{TypeUrl: payload.GetTypeUrl()}},
			Err:   &collector.Rejection{Message: "line 2: unexpected end of JSON input"},
		},
	}
	// The edge authenticated its producer (a file source: the file's owner).
	p := &auth.Principal{Name: "price-files", Types: []string{"shop.products.v1.*"}}
	results, err := st.Collector.Ingest(ctx, p, in)
	if err != nil {
		log.Fatal(err) // the whole batch was refused
	}
	for _, r := range results {
		line := fmt.Sprint(r.GetEventId(), " ", r.GetStatus(), " ", r.GetReason())
		if r.GetMessage() != "" {
			line += ": " + r.GetMessage()
		}
		fmt.Println(line)
	}
	for _, m := range st.Published("hem-failed") {
		var fe eventv1.FailedEvent
		if err := proto.Unmarshal(m.Data, &fe); err != nil {
			log.Fatal(err)
		}
		fmt.Println("failed:", fe.GetEventId(), fe.GetStage(), fe.GetReason(), fe.GetProducer())
	}
	// Output:
	// line-1 EVENT_STATUS_ACCEPTED REASON_UNSPECIFIED
	// line-2 EVENT_STATUS_REJECTED REASON_DECODE_FAILED: line 2: unexpected end of JSON input
	// failed: line-2 STAGE_DECODE REASON_DECODE_FAILED price-files
}
