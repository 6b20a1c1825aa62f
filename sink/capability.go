package sink

// A Sink may have optional capabilities: methods beyond Write and Close
// that its users find by type assertion. The conformance suite (sinktest)
// checks each capability a sink claims.

// PayloadSink is the capability of a sink that stores Event.Payload as it
// is and never reads Event.Message, such as the archive and BigQuery (which
// transcodes the payload bytes). When PayloadOnly reports true, the
// processor checks each payload against its schema without decoding it and
// leaves Message nil; a payload the check cannot clear is decoded as for
// any sink, so what fails, fails the same way. Failed events are always
// decoded.
type PayloadSink interface {
	Sink
	PayloadOnly() bool
}

// HealthReporter is the capability of a sink that can tell whether its
// destination answers (BigQuery). Health returns nil when it does, else
// why not; it must be cheap (readiness probes and the drain of hem dev
// call it) and must not block on the destination.
type HealthReporter interface {
	Sink
	Health() error
}
