// Package bigquerytest is an in-process fake of BigQuery for tests: the v2
// REST API for datasets and tables, and the Storage Write API's default
// stream. The real clients, cloud.google.com/go/bigquery and
// storage/managedwriter, talk to it unchanged through
// [Server.ClientOptions] and [Server.WriteClientOptions].
//
// The fake is honest: what BigQuery rejects, it rejects, with the same
// codes and reasons, so that a sink tested against it fails here and not in
// production. Where it cannot know BigQuery's exact behaviour it errs on
// the strict side.
//
// # REST
//
// datasets insert/get/list/patch/update/delete and tables
// insert/get/list/patch/update/delete, plus tabledata.list so that
// Table.Read works. Errors have Google's JSON shape: notFound 404,
// duplicate 409, invalid 400, conditionNotMet 412. Every change gives a
// new etag, and patch and update honour If-Match.
//
// Table insert checks column names (BigQuery's classic rule: letters,
// digits and underscores, no reserved prefixes, unique case-insensitively),
// types and modes, RECORDs with subfields, a time partitioning field that
// is a top-level TIMESTAMP, DATE or DATETIME, and at most four top-level,
// non-repeated, clusterable clustering columns. Schema changes follow
// BigQuery's rules: columns may only be added, at any nesting level, as
// NULLABLE or REPEATED, and REQUIRED may be relaxed to NULLABLE; dropping
// a column, adding a REQUIRED one, changing a type or a mode otherwise
// fails with 400 invalid naming the field. A partitioning spec is fixed at
// creation except for its expiration. Views are stored, never queried; a
// view's query is checked when it is set, for what can be known without
// running it (view.go): legacy SQL unless useLegacySql is false, the
// tables it names exist, and its windows' PARTITION BY and ORDER BY name
// columns of the table it reads.
//
// # Storage Write API
//
// GetWriteStream and AppendRows serve each table's _default stream;
// explicit streams are UNIMPLEMENTED. A connection's first request names
// the stream and carries the writer schema, and both stick; a multiplexed
// connection may switch streams, and keeps one writer schema per stream.
// Every request is checked:
//
//   - its proto.Size against the limit (WithMaxRequestBytes, 10 MiB by
//     default); a larger request fails the whole connection with
//     INVALID_ARGUMENT, as in BigQuery;
//   - its writer schema against the table schema as the Write API sees it
//     (see WithSchemaPropagationDelay): every proto field must name a column
//     case-insensitively, with a compatible type and the same repetition,
//     and every REQUIRED column must have a field. Failures are
//     INVALID_ARGUMENT responses naming the field and the stream (and so
//     the table);
//   - each row, decoded with proto2 semantics: an unset field is NULL
//     unless the descriptor declares a default (adapt.NormalizeDescriptor
//     does, for proto3 implicit presence). A row with a missing REQUIRED
//     value, an unset proto2 required field, invalid JSON or UTF-8, an out
//     of range TIMESTAMP, DATE or decimal, undecodable bytes, or fields the
//     writer schema does not declare, fails: the response carries
//     row_errors and no row of the request is stored.
//
// After a table schema change becomes visible, the next response on an
// older connection carries updated_schema, once.
//
// # Faults and other servers
//
// [Server.SetReachable] cuts the network and restores it (state is kept),
// for outage tests; [Server.SetAppendFault] answers AppendRows requests
// with an error and ends the connection. Some BigQuery-API-compatible
// servers behave in ways BigQuery does not, and options reproduce them:
// [WithConnectionSchema] reads a connection's requests with its first
// writer schema, [WithDropUnknownFields] accepts and drops what the table
// lacks, [WithoutETags] sends no etags. These modes are lenient on
// purpose; the default is BigQuery's strictness.
//
// # Reading rows
//
// [Server.Rows] returns what was appended, keyed by the table's current
// column names. Values are Go values: STRING, NUMERIC, BIGNUMERIC (decimal
// text), JSON, INTERVAL (canonical text), GEOGRAPHY, TIME and DATETIME are
// strings; INT64 int64; FLOAT64 float64; BOOL bool; BYTES []byte;
// TIMESTAMP and DATE time.Time in UTC; RECORD map[string]any; REPEATED
// []any.
package bigquerytest
