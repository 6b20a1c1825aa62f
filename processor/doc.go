// Package processor moves events from a Pub/Sub subscription into a sink:
// pull, decode by the hem-schema-id attribute, batch per subject, write, and
// ack only what the sink reported durable.
//
//	p, err := processor.New(processor.NewSubscriptionPuller(client, "hem-events-bigquery"),
//		sink, registryClient, processor.NewTopicPublisher(client, "hem-failed"),
//		processor.WithPermanentError(func(err error) bool { return errors.Is(err, registry.ErrNotFound) }))
//	...
//	err = p.Run(ctx) // until ctx ends, then drains
//
// # Pulling
//
// The default Puller, SubscriptionPuller, uses unary Pull (up to 1000
// messages a call) with Acknowledge and ModifyAckDeadline, with several
// calls at once (WithPullers). Unary pull is a supported production API and
// suits a consumer that works in batches anyway; it is also fast on the
// local servers: pstest hands a streaming-pull stream one message every
// 10 ms (about 86 messages/s per stream), while unary Pull drains it at tens
// of thousands per second. StreamingPuller puts StreamingPull (the client
// library's Subscriber.Receive) behind the same interface for those who
// prefer it; it keeps the same lease semantics.
//
// Flow control: messages and bytes pulled but not yet settled are bounded
// (WithMaxOutstanding), so a backlog never grows the process. When the
// bound is reached and the batches already being written would not free a
// pull's worth of room, the open batches are written early rather than
// waiting for their age.
//
// Leases: a pulled message is assumed to expire 10 s after the pull
// (Pub/Sub's shortest ack deadline, whatever the subscription says) and is
// extended by the ack deadline (WithAckDeadline) shortly before it does,
// for as long as it is held: while its batch fills, waits or is written.
// An archive batch can wait 30 s; its messages are not redelivered
// meanwhile.
//
// # Decoding and batching
//
// Each message's attributes are read with internal/wire, its schema is
// resolved by id through Schemas (the registry client caches ids forever)
// and the payload is decoded with that schema into a dynamic message. A
// payload with fields its schema does not declare is not the version it
// claims to be and fails. Events are batched per subject (the destination
// table) by count, payload bytes and age (WithBatch). Up to WithMaxInFlight
// batches are written at once, never two of one subject, and one subject's
// batches are written in the order they closed.
//
// # Failures
//
// A message is acked only after the sink reported its event durable (per
// event, through sink.ErrorFor). Events a sink did not write are nacked
// with exponential backoff (WithBackoff): the ack deadline is set to the
// backoff, so Pub/Sub redelivers later. The attempt is Pub/Sub's delivery
// attempt when the subscription has a dead-letter policy, else this
// processor's count of the message's failures.
//
// Permanent failures (a payload that does not decode, an envelope that is
// broken, a schema id the registry does not know, rows a sink refuses for
// good; see WithPermanentError) become hem.event.v1.FailedEvent messages on
// hem-failed, with the stage, a reason, the attempts and the original event
// rebuilt byte for byte, and the message is acked only after that publish
// succeeded. Nothing is dropped.
//
// In failed mode (WithFailedMode, the processor of the hem-failed topic)
// messages are FailedEvents, stored with the built-in FailedEvent schema
// under their Pub/Sub message id. Two different failures of one event are
// two rows; the same failure sent twice (a rejected event its producer sent
// again) is one row in the DuckDB warehouse and the archive, which key
// failures by sink.FailureKey. A failed event that cannot be stored for good has nowhere further
// to go: it is counted (Stats.Refused) and nacked with the longest backoff,
// and in production the subscription's dead-letter policy moves it aside
// after its last attempt.
//
// # Shutdown
//
// When Run's context ends, pulling stops, the open batches are written
// with a detached context that ends WithDrainTimeout later, what was
// written is acked and everything else is nacked for immediate redelivery,
// so another replica takes over. Run returns nil after a clean shutdown. If
// the process dies instead, its messages come back when their leases run
// out: delivery is at least once, and sinks keep one row per event id.
//
// # Observability
//
// Stats is a snapshot of the counters; Ready reports whether pulls succeed
// (for a readiness probe). WithMeterProvider records OpenTelemetry metrics
// and WithLogger logs what an operator should see; by
// default the package records and logs nothing.
package processor
