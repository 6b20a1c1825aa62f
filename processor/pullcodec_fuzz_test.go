package processor

import (
	"maps"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzReadPull holds readPull to the reference decoder: a response it reads,
// proto.Unmarshal reads too and to the same messages, and a response the
// reference reads, readPull does not refuse. The input lies in a larger
// buffer so a read past its end changes the outcome.
func FuzzReadPull(f *testing.F) {
	resp := samplePullResponse()
	raw, err := proto.Marshal(resp)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add(append(append([]byte{}, raw...), raw...))
	// One received message whose message and publish time come in two
	// parts, which the reference merges.
	one, _ := proto.Marshal(&pubsubpb.ReceivedMessage{Message: &pubsubpb.PubsubMessage{
		Attributes: map[string]string{"a": "1"}, PublishTime: &timestamppb.Timestamp{Seconds: 5, Nanos: 7}}})
	two, _ := proto.Marshal(&pubsubpb.ReceivedMessage{Message: &pubsubpb.PubsubMessage{
		Attributes: map[string]string{"b": "2"}, PublishTime: &timestamppb.Timestamp{Seconds: 9}}})
	parts := append(one, two...)
	f.Add(append([]byte{0x0a, byte(len(parts))}, parts...))
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Add([]byte{0x0a, 0x04, 0x12, 0x02, 0x22, 0x00}) // an empty publish time
	f.Add([]byte{0x0a, 0x03, 0x0a, 0x01, 0xff})       // an ack id that is not UTF-8
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := append(append([]byte{}, in...), 0xff, 0x0a, 0x12, 0x22, 0x01, 0x80)
		got, err := readPull(buf[: len(in) : len(in)+6])
		var want pubsubpb.PullResponse
		werr := proto.Unmarshal(in, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("readPull says %v, proto.Unmarshal %v", err, werr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want.ReceivedMessages) {
			t.Fatalf("read %d messages, proto.Unmarshal %d", len(got), len(want.ReceivedMessages))
		}
		for i, rm := range want.ReceivedMessages {
			m, w := got[i], rm.GetMessage()
			if m.AckID != rm.GetAckId() || m.ID != w.GetMessageId() || string(m.Data) != string(w.GetData()) ||
				m.DeliveryAttempt != int(rm.GetDeliveryAttempt()) || !m.PublishTime.Equal(w.GetPublishTime().AsTime()) ||
				!maps.Equal(m.Attributes, w.GetAttributes()) {
				t.Fatalf("message %d read as %+v, proto.Unmarshal %v", i, m, rm)
			}
			if cap(m.Data) != len(m.Data) {
				t.Fatalf("message %d: payload capacity %d reaches past it", i, cap(m.Data))
			}
		}
	})
}
