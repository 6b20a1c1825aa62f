package devpubsub

import (
	"bytes"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzReadPublish holds the publish path's hand-written decoding of a
// PublishRequest (readPublish, then prepareRaw for each message) to the
// reference decoder: whenever proto.Unmarshal decodes the bytes, the walk
// reads the same topic and messages, and each prepared message decodes to
// the one sent, without the id and publish time a publisher may set (their
// field numbers, whatever the wire type) and with the server's publish
// time.
func FuzzReadPublish(f *testing.F) {
	for _, req := range []*pubsubpb.PublishRequest{
		{Topic: "projects/p/topics/t", Messages: []*pubsubpb.PubsubMessage{
			{Data: []byte("a"), Attributes: map[string]string{"k": "v", "hem-type": "x"}, OrderingKey: "o"},
			{Data: []byte("b"), MessageId: "set-by-publisher", PublishTime: timestamppb.New(time.Unix(1, 2))},
			{},
		}},
		{Topic: "projects/p/topics/t"},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x0a\x01a\x0a\x01b\x12\x00")) // the last topic counts
	f.Add([]byte("\x12\x02\x1a\x00\x12\x03\x0b\x0c\x00"))
	now := time.Unix(1_700_000_000, 5)
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := append(bytes.Clone(in), "\x12\x80\x80\x80\x80\x01\x0a\xff"...) // bytes that would continue it
		b := buf[:len(in):len(in)]
		var want pubsubpb.PublishRequest
		if proto.Unmarshal(b, &want) != nil {
			_, _, _ = readPublish(b) // must not panic
			return
		}
		topic, msgs, err := readPublish(b)
		if err != nil {
			t.Fatalf("readPublish refused what proto.Unmarshal reads: %v: %q", err, in)
		}
		if topic != want.GetTopic() || len(msgs) != len(want.GetMessages()) {
			t.Fatalf("read topic %q and %d messages, proto.Unmarshal %q and %d: %q", topic, len(msgs), want.GetTopic(), len(want.GetMessages()), in)
		}
		if len(msgs) == 0 {
			return
		}
		prepared, err := prepareRaw(msgs, now)
		if err != nil {
			t.Fatalf("prepareRaw refused messages proto.Unmarshal reads: %v: %q", err, in)
		}
		for i, p := range prepared {
			var got pubsubpb.PubsubMessage
			if err := proto.Unmarshal(p.buf[fieldRoom:], &got); err != nil {
				t.Fatalf("message %d prepared as bytes that do not decode: %v", i, err)
			}
			w := proto.CloneOf(want.GetMessages()[i])
			w.MessageId, w.PublishTime = "", timestamppb.New(now)
			w.ProtoReflect().SetUnknown(withoutFields(w.ProtoReflect().GetUnknown(), messageIDField, publishTimeField))
			if !proto.Equal(&got, w) {
				t.Fatalf("message %d prepared as %v, want %v: %q", i, &got, w, in)
			}
		}
	})
}

// withoutFields is the encoded fields u without those numbered a or b.
func withoutFields(u []byte, a, b protowire.Number) []byte {
	var out []byte
	for len(u) > 0 {
		num, typ, n := protowire.ConsumeTag(u)
		m := protowire.ConsumeFieldValue(num, typ, u[n:])
		if num != a && num != b {
			out = append(out, u[:n+m]...)
		}
		u = u[n+m:]
	}
	return out
}
