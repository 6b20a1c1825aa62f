package devpubsub

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"google.golang.org/protobuf/encoding/protowire"
)

// The write-ahead log is a sequence of segment files. A segment starts with
// segmentMagic and holds records; a record is
//
//	length uint32 LE | crc uint32 LE | payload[length]
//
// where the CRC (Castagnoli) covers the payload, and the payload is a type
// byte and a body whose form depends on the type (varints are protobuf
// varints):
//
//	recMeta      next message id, next subscription number
//	recTopicPut  the Topic, serialized
//	recTopicDel  the topic's name
//	recSubPut    subscription number, then the Subscription, serialized
//	recSubDel    subscription number
//	recMsg       message id, count, that many subscription numbers, then the
//	             PubsubMessage as delivered (with id and publish time)
//	recAck       subscription number, count, that many message ids
//
// A recMsg states the subscriptions a message is still to be delivered to;
// a later recMsg of the same id replaces that set (compaction copies live
// messages forward so old segments can go). Recovery reads the log as
// outside input: every record's length and CRC are checked, and its body is
// parsed with bounds checks, before anything is decoded from it.
const (
	recMeta byte = iota + 1
	recTopicPut
	recTopicDel
	recSubPut
	recSubDel
	recMsg
	recAck
)

const (
	segmentMagic = "HEMPSWAL\x00\x00\x00\x01"
	recordHeader = 8
	// maxRecord bounds a record's payload, so a corrupt length cannot make
	// recovery allocate or wait for gigabytes. A message is at most 10 MB
	// in Pub/Sub.
	maxRecord = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of decodeRecord. Both end recovery at the record; errTruncated
// means the buffer ends inside it (a torn write), errCorrupt that it cannot
// be a record hem wrote.
var (
	errTruncated = errors.New("truncated record")
	errCorrupt   = errors.New("corrupt record")
)

// record is one decoded log record. Which fields are set depends on typ:
// a and b are the two leading numbers (ids, counts, subscription numbers),
// list the subscription numbers of a recMsg or the ids of a recAck, data
// the bytes (a Topic, Subscription, topic name or PubsubMessage). data
// aliases the buffer the record was decoded from.
type record struct {
	typ  byte
	a, b uint64
	list []uint64
	data []byte
}

// beginRecord starts a record of type typ in b; endRecord completes it.
func beginRecord(b []byte, typ byte) ([]byte, int) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	return b, start
}

func endRecord(b []byte, start int) []byte {
	payload := b[start+recordHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

// maxRecordLen bounds the length of r encoded.
func maxRecordLen(r record) int {
	return recordHeader + 1 + 2*binary.MaxVarintLen64 + len(r.list)*binary.MaxVarintLen64 + len(r.data)
}

// appendRecord encodes r.
func appendRecord(b []byte, r record) []byte {
	b, start := beginRecord(b, r.typ)
	switch r.typ {
	case recMeta:
		b = protowire.AppendVarint(b, r.a)
		b = protowire.AppendVarint(b, r.b)
	case recTopicPut, recTopicDel:
		b = append(b, r.data...)
	case recSubPut:
		b = protowire.AppendVarint(b, r.a)
		b = append(b, r.data...)
	case recSubDel:
		b = protowire.AppendVarint(b, r.a)
	case recMsg, recAck:
		b = protowire.AppendVarint(b, r.a)
		b = protowire.AppendVarint(b, uint64(len(r.list)))
		for _, v := range r.list {
			b = protowire.AppendVarint(b, v)
		}
		if r.typ == recMsg {
			b = append(b, r.data...)
		}
	}
	return endRecord(b, start)
}

// decodeRecord decodes the record at the start of b and returns it with its
// encoded length. It reads nothing past len(b).
func decodeRecord(b []byte) (record, int, error) {
	if len(b) < recordHeader {
		return record{}, 0, errTruncated
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > maxRecord {
		return record{}, 0, errCorrupt
	}
	if uint64(len(b)-recordHeader) < uint64(n) {
		return record{}, 0, errTruncated
	}
	p := b[recordHeader : recordHeader+int(n) : recordHeader+int(n)]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return record{}, 0, errCorrupt
	}
	r, ok := parsePayload(p)
	if !ok {
		return record{}, 0, errCorrupt
	}
	return r, recordHeader + int(n), nil
}

// parsePayload parses a record's payload (after its CRC matched).
func parsePayload(p []byte) (record, bool) {
	if len(p) == 0 {
		return record{}, false
	}
	r := record{typ: p[0]}
	body := p[1:]
	var ok bool
	switch r.typ {
	case recMeta:
		if r.a, body, ok = varint(body); ok {
			r.b, body, ok = varint(body)
		}
		ok = ok && len(body) == 0
	case recTopicPut, recTopicDel:
		r.data, ok = body, len(body) > 0
	case recSubPut:
		r.a, r.data, ok = varint(body)
	case recSubDel:
		r.a, body, ok = varint(body)
		ok = ok && len(body) == 0
	case recMsg, recAck:
		r.a, r.list, body, ok = varintList(body)
		if r.typ == recMsg {
			r.data = body
		} else {
			ok = ok && len(body) == 0
		}
	}
	if !ok {
		return record{}, false
	}
	return r, true
}

func varint(b []byte) (uint64, []byte, bool) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, nil, false
	}
	return v, b[n:], true
}

// varintList reads a number, a count and that many numbers.
func varintList(b []byte) (uint64, []uint64, []byte, bool) {
	first, b, ok := varint(b)
	if !ok {
		return 0, nil, nil, false
	}
	count, b, ok := varint(b)
	// Every number takes at least a byte: a count beyond the bytes left is
	// corrupt, and is refused before it sizes an allocation.
	if !ok || count > uint64(len(b)) {
		return 0, nil, nil, false
	}
	list := make([]uint64, count)
	for i := range list {
		if list[i], b, ok = varint(b); !ok {
			return 0, nil, nil, false
		}
	}
	return first, list, b, true
}

// validMessage reports whether raw is a well-formed protobuf message with a
// message id, as a recMsg must hold, and returns the id.
func validMessage(raw []byte) (string, bool) {
	var id string
	for b := raw; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return "", false
		}
		if num == messageIDField && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[n:])
			id = string(v)
		}
		b = b[n+m:]
	}
	return id, id != ""
}
