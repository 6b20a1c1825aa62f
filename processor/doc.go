// Package processor moves events from a Pub/Sub subscription into a sink:
// pull, decode by the hem-schema-id attribute, batch per subject, write, and
// ack only what the sink reported durable.
//
// # Pulling
//
// Pullers use unary Pull (up to 1000 messages a call) with Acknowledge and
// ModifyAckDeadline, several at once. Unary pull is a supported production
// API with throughput close to streaming pull for batch consumers, and it is
// fast on local servers too, where streaming pull can hand out one message
// per stream every 10 ms (pstest). Outstanding messages and bytes are
// bounded, so a backlog never grows the process; held messages have their
// ack deadline extended until they are acked or nacked.
//
// # Failures
//
// A sink error nacks the events it names with exponential backoff (the ack
// deadline is set to the backoff, so Pub/Sub redelivers later). Permanent
// failures (undecodable payloads, unknown schema ids, rows a sink refuses
// for good) become hem.event.v1.FailedEvent messages on hem-failed and are
// acked only after that publish succeeded: nothing is dropped. In failed
// mode (the failed-events sink) there is nowhere further to send a failure,
// so those events are nacked with the longest backoff and, in production,
// reach the subscription's dead-letter topic.
//
// # Shutdown
//
// When Run's context ends, pulling stops, pending batches are written with
// a detached context bounded by the drain timeout, what was written is
// acked and everything else is nacked for prompt redelivery.
package processor
