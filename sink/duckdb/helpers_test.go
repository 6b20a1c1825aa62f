package duckdb_test

import (
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func protoValue(s string) protoreflect.Value { return protoreflect.ValueOfString(s) }

func protoEnum(n int32) protoreflect.Value {
	return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n))
}

// protoTimestamp is t as a value of the google.protobuf.Timestamp field of
// a dynamic message m.
func protoTimestamp(m protoreflect.Message, t time.Time) protoreflect.Value {
	ts := timestamppb.New(t)
	v := m.NewField(m.Descriptor().Fields().ByName("measured_at")).Message()
	fields := v.Descriptor().Fields()
	v.Set(fields.ByName("seconds"), protoreflect.ValueOfInt64(ts.GetSeconds()))
	v.Set(fields.ByName("nanos"), protoreflect.ValueOfInt32(ts.GetNanos()))
	return protoreflect.ValueOfMessage(v)
}
