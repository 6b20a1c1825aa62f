package duckdb_test

import "google.golang.org/protobuf/reflect/protoreflect"

func protoValue(s string) protoreflect.Value { return protoreflect.ValueOfString(s) }

func protoEnum(n int32) protoreflect.Value {
	return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n))
}
