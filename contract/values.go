package contract

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The values of the mapped types (docs/EVOLUTION.md section 7) that take
// more than a Get: the sinks that convert decoded messages (the DuckDB
// warehouse, the archive's typed columns) read them here, so a column
// holds the same value in every place that shows it. The BigQuery sink
// transcodes payload bytes instead and implements the same rules on the
// wire.

// Field numbers of the well-known messages read below (stable by their
// own compatibility promise).
const (
	wktSeconds = 1 // Timestamp, Duration
	wktNanos   = 2
	dateYear   = 1 // google.type.Date
	dateMonth  = 2
	dateDay    = 3
	wrapperVal = 1 // google.protobuf.*Value
)

// EnumValue is the STRING an enum value maps to: its name, or the decimal
// of a number the descriptor does not know (a newer producer's value).
func EnumValue(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	if ed != nil {
		if ev := ed.Values().ByNumber(n); ev != nil {
			return string(ev.Name())
		}
	}
	return strconv.FormatInt(int64(n), 10)
}

// TimestampValue reads a google.protobuf.Timestamp message (TIMESTAMP).
func TimestampValue(m protoreflect.Message) time.Time {
	f := m.Descriptor().Fields()
	return time.Unix(m.Get(f.ByNumber(wktSeconds)).Int(), m.Get(f.ByNumber(wktNanos)).Int()).UTC()
}

// DurationMicros reads a google.protobuf.Duration message (INTERVAL) as
// microseconds, the precision of both warehouses.
func DurationMicros(m protoreflect.Message) int64 {
	f := m.Descriptor().Fields()
	return m.Get(f.ByNumber(wktSeconds)).Int()*1_000_000 + m.Get(f.ByNumber(wktNanos)).Int()/1000
}

// DateValue reads a google.type.Date message (DATE) as midnight UTC.
func DateValue(m protoreflect.Message) time.Time {
	f := m.Descriptor().Fields()
	return time.Date(int(m.Get(f.ByNumber(dateYear)).Int()), time.Month(m.Get(f.ByNumber(dateMonth)).Int()),
		int(m.Get(f.ByNumber(dateDay)).Int()), 0, 0, 0, 0, time.UTC)
}

// JSONValue is the JSON text of a google.protobuf.Struct, Value or
// ListValue message (JSON).
func JSONValue(m protoreflect.Message) ([]byte, error) {
	return protojson.Marshal(m.Interface())
}

// Unwrap returns the value inside a google.protobuf wrapper message (its
// column is the wrapped scalar) and the field that holds it.
func Unwrap(m protoreflect.Message) (protoreflect.Value, protoreflect.FieldDescriptor) {
	fd := m.Descriptor().Fields().ByNumber(wrapperVal)
	return m.Get(fd), fd
}
