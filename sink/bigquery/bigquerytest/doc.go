// Package bigquerytest is an in-process fake of BigQuery for tests: the v2
// REST API for datasets, tables and jobs (queries run on DuckDB, loads
// from uploads), and the Storage Write API's default stream. The real clients, cloud.google.com/go/bigquery and
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
// creation except for its expiration. A view's query is checked when it
// is set, for what can be known without running it (view.go): legacy SQL
// unless useLegacySql is false, the tables it names exist, and its
// windows' PARTITION BY and ORDER BY name columns of the table it reads;
// queries that read the view run its SQL (see Jobs).
//
// A table's expirationTime is honoured: once it has passed the table is
// gone (404 on get, absent from lists and queries, its name free again);
// a dataset's defaultTableExpirationMs sets it on new tables. A
// time-partitioned table's timePartitioning.expirationMs drops a
// partition's rows expirationMs after the partition's start (UTC), from
// queries, tabledata.list and [Server.Rows].
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
// # Jobs
//
// jobs.insert, jobs.query (the client's fast path), jobs.get,
// jobs.getQueryResults (paged), jobs.cancel and the upload endpoint
// (multipart and resumable) serve query and load jobs. Jobs run to
// completion inside the call that creates them, one at a time: a job is
// DONE when the client first sees it. A failed job is stored with
// status.errorResult, and getQueryResults answers with its error; a dry
// run's failure, and a jobs.query failure, are the call's error.
//
// Queries run on an in-process DuckDB: the base tables a query reads are
// copied into it (the rows the Storage Write API, loads, DML and query
// destinations stored; a copy is kept until its table changes), and its
// GoogleSQL is translated
// into DuckDB SQL by a small, explicit rewriter (translate.go,
// functions.go). Legacy SQL is refused. The subset:
//
//   - SELECT with WITH, FROM with joins, comma joins and UNNEST(array) AS
//     x, WHERE, GROUP BY (names or positions), HAVING, QUALIFY, WINDOW,
//     ORDER BY (NULLs first ascending, last descending, as in BigQuery),
//     LIMIT/OFFSET, UNION/INTERSECT/EXCEPT ALL or DISTINCT, subqueries,
//     x IN UNNEST(array), * EXCEPT (…) and * REPLACE (…), struct field
//     access a.b, array[SAFE_OFFSET(i)] and [SAFE_ORDINAL(i)];
//   - table names `project.dataset.table`, dataset.table (in the job's
//     project), table (in the default dataset), each part quoted or not;
//     views (standard SQL, nested up to 16 deep) are inlined;
//   - literals: strings ('…', "…", triple-quoted, r'…'), bytes (b'…'),
//     numbers (a number with a point or exponent is FLOAT64), typed
//     literals DATE/TIMESTAMP/DATETIME/TIME/NUMERIC/JSON '…', array
//     literals [a, b], INTERVAL n part; query parameters @name and ?
//     (scalars and arrays of scalars);
//   - functions: COUNT, SUM, AVG, MIN, MAX, ANY_VALUE, STRING_AGG,
//     LOGICAL_AND/OR, COUNTIF, APPROX_COUNT_DISTINCT (exact here),
//     STDDEV/VARIANCE and their _SAMP/_POP forms; ROW_NUMBER, RANK,
//     DENSE_RANK, PERCENT_RANK, CUME_DIST, NTILE, LAG, LEAD, FIRST_VALUE,
//     LAST_VALUE; COALESCE, IFNULL, NULLIF, IF; ABS, SIGN, ROUND, FLOOR,
//     CEIL, SQRT, POW, EXP, LN, LOG10, MOD, DIV, SAFE_DIVIDE, IEEE_DIVIDE;
//     CONCAT, UPPER, LOWER, LENGTH, TRIM, LTRIM, RTRIM, SUBSTR, REPLACE,
//     STARTS_WITH, ENDS_WITH, STRPOS, REVERSE, REGEXP_CONTAINS, TO_HEX,
//     SHA256, SHA1, MD5, JSON_VALUE, GENERATE_UUID, ARRAY_LENGTH; CAST and
//     SAFE_CAST to INT64, FLOAT64, STRING, BYTES, BOOL, NUMERIC,
//     TIMESTAMP, DATE, DATETIME, TIME, JSON; TIMESTAMP_TRUNC and
//     DATE_TRUNC (MICROSECOND … YEAR, ISOWEEK; not WEEK), DATE(…),
//     TIMESTAMP(…), EXTRACT, TIMESTAMP_ADD/SUB, DATE_ADD/SUB,
//     TIMESTAMP_DIFF, DATE_DIFF, UNIX_MICROS/MILLIS/SECONDS, UNIX_DATE,
//     TIMESTAMP_MICROS/MILLIS/SECONDS, CURRENT_TIMESTAMP and CURRENT_DATE
//     (from the server's clock), FORMAT_DATE and FORMAT_TIMESTAMP (%Y %m
//     %d %H %M %S %F %T %j); time zone arguments only 'UTC';
//   - DML on one base table: INSERT (VALUES or a query), UPDATE … WHERE,
//     DELETE … WHERE, all or nothing, with numDmlAffectedRows.
//
// Anything else fails with 400 invalidQuery "bigquerytest: unsupported:
// …" naming it (other functions, FARM_FINGERPRINT among them, WEEK,
// OFFSET(i) and ORDINAL(i) subscripts, STRUCT and ARRAY constructors,
// UNNEST WITH OFFSET, PIVOT, MERGE, DDL, scripts, INFORMATION_SCHEMA,
// wildcard tables, _PARTITIONTIME, other time zones, BIGNUMERIC,
// GEOGRAPHY and INTERVAL columns), rather than answer differently from
// BigQuery. Known differences that are not refused: division by zero
// gives Infinity or NULL where BigQuery fails (SAFE_DIVIDE agrees); CAST
// of FLOAT64 or BYTES to STRING prints as DuckDB does.
//
// BigQuery's refusals keep its shape: a missing table or dataset is 404
// notFound "Not found: Table p:d.t was not found in location US"; an
// unknown column 400 invalidQuery "Unrecognized name: x at [l:c]"; a
// column neither grouped nor aggregated, a syntax error, a missing query
// parameter, a table name without a dataset and no default dataset, a
// DELETE or UPDATE without WHERE likewise.
//
// totalBytesProcessed (dry runs and real jobs alike) is an estimate of
// what BigQuery bills: the logical bytes (NULL 0; INT64, FLOAT64,
// TIMESTAMP, DATE, TIME, DATETIME 8; BOOL 1; STRING, BYTES, JSON 2 plus
// the length; NUMERIC 16; a RECORD its fields; a REPEATED column its
// elements) of the columns each table's scan reads, over the rows of the
// partitions it reads. The columns and filters come from DuckDB's
// optimized plan, whose projection and filter pushdown stand in for
// BigQuery's column and partition pruning: a comparison of the
// partitioning column with constants or parameters (also through the
// dedup view, whose window is partitioned by that column) limits the
// partitions; other filters (DATE(column) = …, IN lists, OR) count every
// partition, so the estimate errs high. A RECORD counts whole even when
// one field is read. Billed bytes are rounded up to a MiB, at least 10
// MiB per table read; maximumBytesBilled below that fails the job with
// 400 bytesBilledLimitExceeded "Query exceeded limit for bytes billed: N.
// M or higher required.".
//
// A query's destinationTable (or table$YYYYMMDD, $YYYYMMDDHH, $YYYYMM,
// $YYYY for one partition of a table partitioned by a column) is written
// with createDisposition (CREATE_IF_NEEDED, CREATE_NEVER) and
// writeDisposition (WRITE_EMPTY, the default; WRITE_APPEND;
// WRITE_TRUNCATE, which replaces the whole table and its schema, or
// exactly the decorated partition). Writing into an existing table needs
// the result's columns to be the table's, by name, with the same types;
// a REQUIRED column refuses a NULLABLE result; a decorated write refuses
// rows of other partitions ("Some rows belong to different partitions
// rather than destination partition …"). Every check runs before any row
// changes.
//
// Load jobs read newline-delimited JSON or Parquet from an upload, with
// the job's schema, else the table's (a Parquet file's own for a new
// table), maxBadRecords and ignoreUnknownValues; writeDisposition
// defaults to WRITE_APPEND. A bad row fails the job with BigQuery's
// "JSON table encountered too many errors" and one errors[] entry per
// row ("No such field: x.", "Missing required field: x.", "Could not
// convert value to integer. Field: x; Value: …"). gs:// URIs, CSV, Avro,
// ORC and autodetection are refused.
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
