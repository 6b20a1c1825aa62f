package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/collector/collectortest"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
)

func Example() {
	ctx := context.Background()
	// A collector with the sample contracts, in-process. In production the
	// target is your collector's URL, e.g. "https://collector.example.com".
	stack, err := collectortest.Start(ctx, "../proto")
	if err != nil {
		log.Fatal(err)
	}
	defer stack.Close()

	c, err := client.New(ctx, stack.Addr, client.WithAPIKey(collectortest.APIKey))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	placed := &ordersv1.OrderPlaced{
		OrderId:    "0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
		MemberId:   "m-42",
		StoreId:    "ams-01",
		Channel:    ordersv1.Channel_CHANNEL_WEB,
		Items:      []*ordersv1.LineItem{{Sku: "OAT-1L", Quantity: 2, UnitPrice: &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 1_990_000}}},
		Total:      &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 3_980_000},
		PlacedAt:   timestamppb.New(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)),
		Fulfilment: &ordersv1.OrderPlaced_PickupStoreId{PickupStoreId: "ams-01"},
	}
	// Emit queues the event; Get waits for the collector's answer.
	res, err := c.Emit(ctx, placed).Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.GetStatus())

	// An event that breaks its contract comes back with the violations.
	placed.Items[0].Quantity = 0
	_, err = c.Emit(ctx, placed).Get(ctx)
	var rejected *client.RejectedError
	if errors.As(err, &rejected) {
		for _, v := range rejected.Result.GetViolations() {
			fmt.Println(rejected.Result.GetReason(), v.GetFieldPath(), v.GetRuleId())
		}
	}
	// Output:
	// EVENT_STATUS_ACCEPTED
	// REASON_VALIDATION_FAILED items[0].quantity int32.gt_lte
}

func ExampleClient_Flush() {
	ctx := context.Background()
	stack, err := collectortest.Start(ctx, "../proto")
	if err != nil {
		log.Fatal(err)
	}
	defer stack.Close()
	c, err := client.New(ctx, stack.Addr,
		client.WithAPIKey(collectortest.APIKey),
		client.WithBatchCount(500),                 // up to 500 events per call
		client.WithBatchDelay(50*time.Millisecond), // or 50 ms after the first
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	var results []*client.Result
	for i := range 3 {
		results = append(results, c.Emit(ctx, &ordersv1.OrderCancelled{
			OrderId:     fmt.Sprintf("0193a3b4-5c6d-7e8f-9a0b-%012d", i),
			Reason:      ordersv1.CancelReason_CANCEL_REASON_CUSTOMER,
			CancelledAt: timestamppb.Now(),
		}, client.WithAttributes(map[string]string{"source": "support-desk"})))
	}
	// Flush sends what is queued and waits for every answer.
	if err := c.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	accepted := 0
	for _, r := range results {
		if _, err := r.Get(ctx); err == nil {
			accepted++
		}
	}
	fmt.Println(accepted, "accepted")
	// Output:
	// 3 accepted
}
