// Package mapping turns a file source's records into contract messages: it
// compiles a declaration's fields, event_time and key against the
// contract's descriptor (Compile), then maps each record to the message's
// bytes, its event time and its key values (Mapping.Map).
//
// # Fields
//
// fields maps a contract field path (sku, price.amount_micros, through
// singular message fields) to where its value comes from:
//
//   - A column: the value is a declared column's name (format.csv.columns,
//     json.columns, parquet.columns; for JSON and Parquet without declared
//     columns, any identifier). The text is converted by the field's kind:
//     strings as they are; integers and doubles parsed strictly (no spaces,
//     no decimal comma, range-checked); bools from true, false, 1, 0; enums
//     by value name with or without the enum's prefix (CATEGORY_DAIRY, DAIRY,
//     dairy) or number; google.protobuf.Timestamp from RFC 3339. An empty
//     cell (a JSON null, a missing field) leaves the field unset: the
//     contract's rules (required, min_len) decide whether that is valid.
//     No CEL runs.
//   - Anything else is a CEL expression over row, the record: for CSV a
//     map(string, string), for JSON and Parquet a map(string, dyn) (JSON
//     numbers are int when integral, else double). row.name or
//     row["Column Name"] reads a column; row.?name is optional.
//
// The expression's type is checked against the field: int for the integer
// kinds (int32 range-checked per record), uint or int for the unsigned
// ones, double or int for double and float, string, bool, bytes (or
// string), timestamp for google.protobuf.Timestamp, string (a value name)
// or int for an enum, a list for a repeated field, and the scalar for the
// wrappers (google.protobuf.Int32Value...). An optional (optional.of(x),
// optional.none()) or null leaves the field unset.
//
// The environment has CEL's standard library (+ concatenates strings,
// int(), double(), string(), timestamp(), duration(), size(), matches(),
// contains(), startsWith(), endsWith(), in, ?:, map literals, list
// macros), cel-go's string extension (trim, split, replace, lowerAscii,
// upperAscii, substring, indexOf, join, charAt, reverse, format), its math
// extension (math.round, math.floor, math.ceil, math.abs, math.greatest,
// math.least) and three helpers:
//
//	decimal(s, sep) double            decimal("1.234,5", ",") == 1234.5
//	scaled(s, scale) int              scaled("19.99", 6) == 19990000
//	scaled(s, scale, sep) int         scaled("19,99", 6, ",") == 19990000
//	date(s, layout) timestamp         date("07.12.2026", "DD.MM.YYYY"), in UTC
//	date(s, layout, zone) timestamp   date(row.day, "DD.MM.YYYY HH:mm", "Europe/Berlin")
//
// decimal and scaled take a number whose decimal separator is sep ("." or
// ","); the other of the two, spaces and "'" group digits of the integer
// part. scaled multiplies by 10^scale exactly, rounding half away from
// zero: prefer it for money, as int(double("19.99") * 1e6) is 19989999.
//
// A date layout is made of YYYY (year), MM or M (month), DD or D (day),
// HH or H (hour, 0-23), mm (minute), ss (second) and S... (a fraction of a
// second, 1 to 9 digits); one-letter forms take one or two digits; any other
// character must appear as is. The zone is an IANA name (Europe/Berlin,
// UTC). A date that does not exist (31.02.) is an error; a local time in a
// daylight-saving gap moves forward.
//
// # Errors
//
// Compile returns Errors, every Problem at once, each with the path of the
// declaration's element ("fields[price.amount_micros]", "event_time",
// "key[0]"): unknown fields (with a suggestion), CEL syntax errors, type
// mismatches, unknown columns (when columns are declared), a key field that
// is not mapped, an event_time that is not a timestamp, a bad date layout,
// time zone or decimal separator given as a constant.
//
// Map returns a *MapError for a record that cannot be mapped; the loader
// rejects that record only. Its message never quotes a value of a column
// read by a field with PII handling (hem.options.v1.field pii): PIIColumns
// names those columns and WithholdPII blanks them in the record's text.
//
// # Payload
//
// The payload is written from the mapped values in field number order:
// the bytes proto.MarshalOptions{Deterministic: true} gives for the same
// message, without building one. A message some of whose fields are mapped
// is present even when they are all zero.
package mapping
