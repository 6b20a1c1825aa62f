package wire

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Unmarshal is o.Unmarshal with a panic of protobuf-go turned into an
// error. protobuf-go v1.36.12 panics ("cannot convert nil to map key",
// proto/decode.go unmarshalMap) on a map entry whose key comes first with
// its wire type and then with another, e.g. b"\x62\x12\n\b00000000\b0000000"
// for a map<string, string> field 12 of a dynamic message. Every decode of
// bytes from outside (a producer, a Pub/Sub message, an archive object)
// into a message that can hold a map goes through here.
func Unmarshal(o proto.UnmarshalOptions, b []byte, m proto.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("proto: cannot parse invalid wire-format data (%v)", r)
		}
	}()
	return o.Unmarshal(b, m)
}
