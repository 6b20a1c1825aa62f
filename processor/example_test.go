package processor_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/processor/processortest"
)

// memoryPuller is a subscription in memory: it hands out its messages once
// and calls done when every one is acked.
type memoryPuller struct {
	mu    sync.Mutex
	queue []*processor.Message
	acked []string
	want  int
	done  func()
}

func (p *memoryPuller) Pull(ctx context.Context, max int) ([]*processor.Message, error) {
	p.mu.Lock()
	n := min(max, len(p.queue))
	msgs := p.queue[:n:n]
	p.queue = p.queue[n:]
	p.mu.Unlock()
	if n == 0 { // nothing left: wait a moment, as Pub/Sub's Pull does
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	return msgs, nil
}

func (p *memoryPuller) Ack(_ context.Context, ackIDs []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acked = append(p.acked, ackIDs...)
	if len(p.acked) == p.want {
		p.done()
	}
	return nil
}

func (p *memoryPuller) ModifyAckDeadline(context.Context, []string, int) error { return nil }

// schemaByID is the registry, for the one schema of this example.
type schemaByID map[int64]*contract.Schema

func (s schemaByID) ByID(_ context.Context, id int64) (*contract.Schema, error) {
	if sc, ok := s[id]; ok {
		return sc, nil
	}
	return nil, fmt.Errorf("schema %d: not found", id)
}

const orderProto = `syntax = "proto3";
package shop.v1;
import "hem/options/v1/options.proto";
message OrderPlaced {
  option (hem.options.v1.event) = {};
  string order_id = 1;
}
`

// A processor pulls events, decodes them with the schema their envelope
// names, writes them to a sink in batches per subject, and acks each
// message once the sink reported its event durable.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	src, err := contract.CompileSources(ctx, map[string]string{"shop/v1/order.proto": orderProto})
	if err != nil {
		fmt.Println(err)
		return
	}
	order, err := src.Schema("shop.v1.OrderPlaced")
	if err != nil {
		fmt.Println(err)
		return
	}
	order = order.WithIdentity(1, 1, contract.Usable, time.Now())

	// Three events as the collector publishes them: the payload, and the
	// envelope in the attributes.
	puller := &memoryPuller{want: 3, done: stop}
	for _, id := range []string{"o-1", "o-2", "o-3"} {
		env := envelope.Envelope{EventID: id, Type: order.Subject, SchemaID: order.ID, EventTime: time.Now(), Producer: "shop"}
		puller.queue = append(puller.queue, &processor.Message{
			AckID:      "ack-" + id,
			ID:         id,
			Data:       protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), id),
			Attributes: env.Encode(),
		})
	}
	failed := processor.FailedPublisherFunc(func(_ context.Context, fe *eventv1.FailedEvent) error {
		fmt.Println("failed:", fe.GetReason())
		return nil
	})

	s := processortest.New()
	p, err := processor.New(puller, s, schemaByID{order.ID: order}, failed,
		processor.WithBatch(100, 1<<20, 20*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Run(ctx); err != nil { // until every message is acked, then drains
		fmt.Println(err)
		return
	}

	ids := make([]string, 0, 3)
	for id, e := range s.Events() {
		ids = append(ids, id+" "+e.Schema.Subject+" "+e.Message.Get(order.Descriptor().Fields().ByName("order_id")).String())
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Println("stored:", id)
	}
	st := p.Stats()
	fmt.Println("acked:", st.Acked, "failed:", st.Failed)
	// Output:
	// stored: o-1 shop.v1.OrderPlaced o-1
	// stored: o-2 shop.v1.OrderPlaced o-2
	// stored: o-3 shop.v1.OrderPlaced o-3
	// acked: 3 failed: 0
}
