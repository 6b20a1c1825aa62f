package wire

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

func TestKnown(t *testing.T) {
	t.Parallel()
	full, err := proto.Marshal(&eventv1.Event{
		EventId:    "e-1",
		Payload:    &anypb.Any{TypeUrl: "type.googleapis.com/x.Y", Value: []byte{1, 2}},
		EventTime:  timestamppb.Now(),
		Attributes: map[string]string{"k": "v"},
		SchemaId:   7,
	})
	if err != nil {
		t.Fatal(err)
	}
	md := (&eventv1.Event{}).ProtoReflect().Descriptor()
	for _, tc := range []struct {
		name    string
		payload string
		want    bool
	}{
		{"empty", "", true},
		{"every field", string(full), true},
		{"unknown field", "\xfa\x3e\x01\x01", false},
		{"unterminated unknown groups", "SSSSSSSS", false},
		{"truncated length", "R\x80\x80\x80\x80\x01SS", false},
		{"terminated unknown group", "\x53\x54", false},
		{"known field, wrong wire type", "\x08\x01", false}, // event_id is a string
		{"invalid UTF-8", "\x0a\x01\xff", false},
		{"truncated nested message", "\x12\x05\x0a\x01", false},
		{"unknown field inside a nested message", "\x12\x04\xfa\x3e\x01\x01", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Known([]byte(tc.payload), md); got != tc.want {
				t.Fatalf("Known(%q) = %v, want %v", tc.payload, got, tc.want)
			}
		})
	}
}
