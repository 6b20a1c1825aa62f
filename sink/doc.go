// Package sink is the contract every hem sink implements, and the shared
// mapping from event contracts to warehouse tables.
//
// # Contract
//
// A [Sink] takes a [Batch] of decoded [Event]s of one subject and makes them
// durable. The processor acks the Pub/Sub messages of a batch only after
// Write returned, and only for the events Write reported written: a
// [BatchError] names the events that failed, [Permanent] marks failures no
// retry can fix. Every implementation passes the conformance suite in
// package sinktest.
//
// # Capabilities
//
// A sink may also have optional capabilities, which its users find by type
// assertion and the conformance suite checks: [PayloadSink] (it stores the
// payload bytes and never reads the decoded message, so the processor need
// not decode) and [HealthReporter] (it says whether its destination
// answers, for readiness probes). [Tee] writes to several sinks as one.
//
// # Event ids
//
// Delivery is at least once, so a sink sees an event again after a retry.
// Sinks that keep one row per id (DuckDB) keep the first event stored under
// it: an identical copy is no error; a different payload under that id
// fails with [ErrDuplicateID] (see [DuplicateID]), which the processor
// records as a FailedEvent. Sinks that cannot check cheaply store what
// comes (BigQuery, whose dedup view keeps one row per id), except that the
// processor fails a later event of an id already in the same batch with
// another payload ([FirstOfEachID]) before any sink sees it. The archive
// skips ids it archived recently (a bounded window, rebuilt from its
// objects after a restart), whatever the payload.
//
// A failed event's id is its Pub/Sub message id; one failure can come as
// two messages (a rejected event sent again). The DuckDB warehouse and the
// archive keep one row per failure ([FailureKey]).
//
// # Mapping
//
// [MapTable] turns an event message into a [Table]: metadata columns
// (_event_id, _event_time, ...) followed by one column per contract field,
// with types and modes from the pinned mapping M for major version 1
// (docs/EVOLUTION.md, "The proto → table mapping"), descriptions from
// proto comments, partitioning and clustering from the event options. BigQuery, the DuckDB warehouse and
// the registry's compatibility engine all use this one mapping, so a schema
// the registry admits is a table change every sink can apply.
package sink
