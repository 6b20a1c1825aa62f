package processor

import (
	"errors"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// pullCodec is gRPC's proto codec, except that it leaves a PullResponse
// encoded, as the response's unknown fields, for readPull. Decoding the
// attribute maps of a thousand messages through protobuf reflection was
// the largest cost of a pull.
type pullCodec struct{ encoding.CodecV2 }

func newPullCodec() pullCodec { return pullCodec{encoding.GetCodecV2(proto.Name)} }

func (c pullCodec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*pubsubpb.PullResponse)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	r.ProtoReflect().SetUnknown(data.Materialize())
	return nil
}

var errMalformedPull = errors.New("malformed pull response")

// readPull reads the messages of a PullResponse left encoded by pullCodec.
// Every string of the response (ack ids, message ids, attributes) is a
// substring of one copy of it, and every payload a slice of the response:
// two allocations for the bytes of a whole pull.
func readPull(raw []byte) ([]*Message, error) {
	str := string(raw)
	// Every slice of raw that protowire returns reaches raw's capacity, so
	// its capacity says where it starts.
	sub := func(b []byte) string {
		if len(b) == 0 {
			return ""
		}
		if off := cap(raw) - cap(b); off >= 0 && off+len(b) <= len(str) {
			return str[off : off+len(b)]
		}
		return string(b)
	}
	var out []*Message
	for b := raw; len(b) > 0; {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, errMalformedPull
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType { // received_messages
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, errMalformedPull
			}
			b = b[n:]
			continue
		}
		rm, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, errMalformedPull
		}
		b = b[n:]
		m, err := readReceived(rm, sub)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// readReceived reads a ReceivedMessage. A field given twice is read as
// proto.Unmarshal reads it: the last scalar wins, messages merge.
func readReceived(b []byte, sub func([]byte) string) (*Message, error) {
	m := &Message{}
	var at timestamp
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, errMalformedPull
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType: // ack_id
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || !utf8.Valid(v) {
				return nil, errMalformedPull
			}
			m.AckID, b = sub(v), b[n:]
		case num == 2 && typ == protowire.BytesType: // message
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, errMalformedPull
			}
			if err := readMessage(m, &at, v, sub); err != nil {
				return nil, err
			}
			b = b[n:]
		case num == 3 && typ == protowire.VarintType: // delivery_attempt
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, errMalformedPull
			}
			m.DeliveryAttempt, b = int(int32(v)), b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, errMalformedPull
			}
			b = b[n:]
		}
	}
	// Without a publish time, as timestamppb's AsTime of nil.
	m.PublishTime = time.Unix(at.secs, at.nanos).UTC()
	return m, nil
}

// readMessage reads a PubsubMessage into m, merging with what m holds; the
// publish time's fields go to at.
func readMessage(m *Message, at *timestamp, b []byte, sub func([]byte) string) error {
	// Count the attributes first, to size the map once.
	attrs := 0
	for c := b; len(c) > 0; {
		num, typ, n := protowire.ConsumeField(c)
		if num == 2 && typ == protowire.BytesType {
			attrs++
		}
		if n < 0 {
			return errMalformedPull
		}
		c = c[n:]
	}
	if attrs > 0 && m.Attributes == nil {
		m.Attributes = make(map[string]string, attrs)
	}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return errMalformedPull
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errMalformedPull
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errMalformedPull
		}
		b = b[n:]
		switch num {
		case 1: // data
			m.Data = v[:len(v):len(v)] // appending to it must not overwrite the response
		case 2: // attributes
			k, val, err := readEntry(v)
			if err != nil {
				return err
			}
			m.Attributes[sub(k)] = sub(val)
		case 3: // message_id
			if !utf8.Valid(v) {
				return errMalformedPull
			}
			m.ID = sub(v)
		case 4: // publish_time
			if err := at.read(v); err != nil {
				return err
			}
		case 5: // ordering_key: not kept, but a string the reference checks
			if !utf8.Valid(v) {
				return errMalformedPull
			}
		}
	}
	return nil
}

// readEntry reads a map<string, string> entry.
func readEntry(b []byte) (key, val []byte, err error) {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, nil, errMalformedPull
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || !utf8.Valid(v) {
				return nil, nil, errMalformedPull
			}
			if num == 1 {
				key = v
			} else {
				val = v
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, nil, errMalformedPull
		}
		b = b[n:]
	}
	return key, val, nil
}

// timestamp holds the fields of a google.protobuf.Timestamp as read so
// far: a second one merges into them.
type timestamp struct{ secs, nanos int64 }

// read merges an encoded google.protobuf.Timestamp into t.
func (t *timestamp) read(b []byte) error {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return errMalformedPull
		}
		b = b[n:]
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return errMalformedPull
			}
			if num == 1 {
				t.secs = int64(v)
			} else {
				t.nanos = int64(int32(v))
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return errMalformedPull
		}
		b = b[n:]
	}
	return nil
}

// consumeTag is protowire.ConsumeTag refusing, as proto.Unmarshal does, a
// field number above protowire.MaxValidNumber (ConsumeTag refuses only
// those below the minimum).
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}
