package processor

import (
	"maps"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestReadPullMatchesProto(t *testing.T) {
	t.Parallel()
	resp := samplePullResponse()
	raw, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readPull(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(resp.ReceivedMessages) {
		t.Fatalf("read %d messages, want %d", len(got), len(resp.ReceivedMessages))
	}
	for i, rm := range resp.ReceivedMessages {
		m, want := got[i], rm.GetMessage()
		if m.AckID != rm.AckId || m.ID != want.GetMessageId() || string(m.Data) != string(want.GetData()) ||
			m.DeliveryAttempt != int(rm.DeliveryAttempt) || !m.PublishTime.Equal(want.GetPublishTime().AsTime()) ||
			!maps.Equal(m.Attributes, want.GetAttributes()) {
			t.Errorf("message %d read as %+v, want %v", i, m, rm)
		}
		if cap(m.Data) != len(m.Data) {
			t.Errorf("message %d: payload capacity %d reaches into the response", i, cap(m.Data))
		}
	}
	for _, cut := range []int{1, len(raw) / 2, len(raw) - 1} {
		if _, err := readPull(raw[:cut]); err == nil {
			t.Errorf("a response cut at %d of %d bytes was read", cut, len(raw))
		}
	}
}

// samplePullResponse has every field readPull reads, a message with only an
// id and a received message with none.
func samplePullResponse() *pubsubpb.PullResponse {
	return &pubsubpb.PullResponse{ReceivedMessages: []*pubsubpb.ReceivedMessage{
		{AckId: "1-1", DeliveryAttempt: 3, Message: &pubsubpb.PubsubMessage{
			Data: []byte("payload"), MessageId: "1", OrderingKey: "VAN-042",
			Attributes:  map[string]string{"hem-type": "shop.orders.v1.OrderPlaced", "empty": ""},
			PublishTime: timestamppb.New(time.Date(2026, 12, 1, 13, 0, 0, 123456789, time.UTC)),
		}},
		{AckId: "2-1", Message: &pubsubpb.PubsubMessage{MessageId: "2"}},
		{AckId: "3-1"},
	}}
}
