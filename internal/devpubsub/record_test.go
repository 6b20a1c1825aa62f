package devpubsub

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func sampleRecords() []record {
	msg := protowire.AppendString(protowire.AppendTag([]byte("\x0a\x03abc"), messageIDField, protowire.BytesType), "42")
	return []record{
		{typ: recMeta, a: 7, b: 3},
		{typ: recTopicPut, data: []byte("\x0a\x0fprojects/p/topics/t")},
		{typ: recTopicDel, data: []byte("projects/p/topics/t")},
		{typ: recSubPut, a: 2, data: []byte("\x0a\x01s")},
		{typ: recSubDel, a: 2},
		{typ: recMsg, a: 42, list: []uint64{0, 1, 300}, data: msg},
		{typ: recAck, a: 1, list: []uint64{42, 1 << 40}},
		{typ: recAck, a: 1 << 63, list: []uint64{1<<64 - 1, 1 << 63}},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, r := range sampleRecords() {
		b := appendRecord([]byte("prefix"), r)[len("prefix"):]
		if len(b) > maxRecordLen(r) {
			t.Errorf("type %d: %d bytes encoded, maxRecordLen says at most %d", r.typ, len(b), maxRecordLen(r))
		}
		got, n, err := decodeRecord(append(b, "trailing bytes"...))
		if err != nil || n != len(b) {
			t.Fatalf("type %d: decode = %d, %v; want %d, nil", r.typ, n, err, len(b))
		}
		if r.list == nil && got.list != nil && len(got.list) == 0 {
			got.list = nil
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("type %d: decoded %+v, want %+v", r.typ, got, r)
		}
	}
}

func TestDecodeRecordRefuses(t *testing.T) {
	t.Parallel()
	good := appendRecord(nil, sampleRecords()[5])
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	huge := bytes.Clone(good)
	huge[3] = 0x7f // length far past maxRecord
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, errTruncated},
		{"short header", good[:5], errTruncated},
		{"torn payload", good[:len(good)-1], errTruncated},
		{"bit flip", flipped, errCorrupt},
		{"zero length", make([]byte, 16), errCorrupt},
		{"huge length", huge, errCorrupt},
		{"unknown type", appendRecord(nil, record{typ: 99}), errCorrupt},
		{"count past the end", endRecord(append(append(beginRecordOnly(recAck), 1), 200), 0), errCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := decodeRecord(tc.in); !errors.Is(err, tc.want) {
				t.Errorf("decodeRecord = %v, want %v", err, tc.want)
			}
		})
	}
}

func beginRecordOnly(typ byte) []byte {
	b, _ := beginRecord(nil, typ)
	return b
}

// FuzzDecodeRecord: the decoder reads the log as outside input. Inputs sit
// inside a larger buffer with bytes after them, so a read past the record's
// end would be seen; whatever decodes must encode back to a record that
// decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(appendRecord(nil, r))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 12))
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := append(bytes.Clone(in), bytes.Repeat([]byte{0xff}, 64)...)
		b := buf[:len(in):len(in)]
		r, n, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errCorrupt) && !errors.Is(err, errTruncated) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n <= 0 || n > len(in) {
			t.Fatalf("decoded length %d of %d bytes", n, len(in))
		}
		re := appendRecord(nil, r)
		r2, n2, err := decodeRecord(re)
		if err != nil || n2 != len(re) || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded record decodes as %+v, %d, %v; want %+v", r2, n2, err, r)
		}
		if r.typ == recMsg {
			validMessage(r.data) // must not panic on any bytes
		}
	})
}

// FuzzParsePayload fuzzes the body parser past the CRC check, which random
// inputs rarely pass.
func FuzzParsePayload(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(appendRecord(nil, r)[recordHeader:])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := append(bytes.Clone(in), bytes.Repeat([]byte{0xff}, 64)...)
		r, ok := parsePayload(buf[:len(in):len(in)])
		if !ok {
			return
		}
		re := appendRecord(nil, r)
		r2, n2, err := decodeRecord(re)
		if err != nil || n2 != len(re) || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded record decodes as %+v, %d, %v; want %+v", r2, n2, err, r)
		}
		if r.typ == recMsg {
			validMessage(r.data)
		}
	})
}
