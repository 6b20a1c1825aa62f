package envelope

import (
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

func TestPublishCodecMatchesProto(t *testing.T) {
	t.Parallel()
	req := &pubsubpb.PublishRequest{Topic: "projects/p/topics/t", Messages: []*pubsubpb.PubsubMessage{
		{Data: []byte("payload"), Attributes: map[string]string{"hem-type": "shop.orders.v1.OrderPlaced", "empty": "", "": "no key"}, OrderingKey: "VAN-042"},
		{Data: make([]byte, 300)},
		{Attributes: map[string]string{"only": "attributes"}},
	}}
	b, err := newPublishCodec().Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got pubsubpb.PublishRequest
	if err := proto.Unmarshal(b.Materialize(), &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, req) {
		t.Errorf("encoded %v, decoded as %v", req, &got)
	}
	if n := proto.Size(req); b.Len() != n {
		t.Errorf("encoded in %d bytes, protobuf takes %d", b.Len(), n)
	}
}

func BenchmarkPublishCodec(b *testing.B) {
	req := &pubsubpb.PublishRequest{Topic: "projects/hem-local/topics/hem-events"}
	for range 100 {
		req.Messages = append(req.Messages, &pubsubpb.PubsubMessage{Data: make([]byte, 300), Attributes: map[string]string{
			"hem-event-id": "01JD3ZB5000000000000000042", "hem-type": "shop.orders.v1.OrderPlaced", "hem-schema-id": "1",
			"hem-event-time": "2026-12-01T13:00:00.123456789Z", "hem-received-at": "2026-12-01T13:00:00.223456789Z",
			"hem-producer": "loadgen", "hem-entity-key": "VAN-042",
		}})
	}
	for _, bc := range []struct {
		name  string
		codec interface {
			Marshal(any) (mem.BufferSlice, error)
		}
	}{{"proto", encoding.GetCodecV2(grpcproto.Name)}, {"publishCodec", newPublishCodec()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.codec.Marshal(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
