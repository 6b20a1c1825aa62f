package wire_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
	"github.com/hemlabs/hem/wire"
)

// TestUnmarshalSurvivesRepeatedMapKey: the payload that makes protobuf-go
// panic (a map entry whose key repeats with another wire type) is an error,
// also inside a larger buffer.
func TestUnmarshalSurvivesRepeatedMapKey(t *testing.T) {
	bad := []byte("\x62\x12\n\b00000000\b0000000")
	md := (&ordersv1.OrderPlaced{}).ProtoReflect().Descriptor()
	if md.Fields().ByNumber(12) == nil || !md.Fields().ByNumber(12).IsMap() {
		t.Fatal("OrderPlaced's field 12 is no longer a map: pick another sample")
	}
	for _, b := range [][]byte{bad, append(append([]byte{}, bad...), 0x0a, 0xff)[:len(bad)]} {
		err := wire.Unmarshal(proto.UnmarshalOptions{}, b, dynamicpb.NewMessage(md))
		if err == nil {
			t.Fatalf("%q decoded without error", b)
		}
	}
	// What decodes still decodes.
	good, err := proto.Marshal(&ordersv1.OrderPlaced{OrderId: "o-1", Labels: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(md)
	if err := wire.Unmarshal(proto.UnmarshalOptions{}, good, m); err != nil || !m.Has(md.Fields().ByNumber(12)) {
		t.Fatalf("a good payload: %v, labels set %v", err, m.Has(md.Fields().ByNumber(12)))
	}
}
