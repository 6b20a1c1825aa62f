// Package client is the Go client app teams use to send events to a hem
// collector. It depends only on hem's generated API, gRPC and protobuf.
//
// # Emitting
//
// Create one Client per process, emit contract messages (the generated Go
// types of your .proto contracts, e.g. shop.orders.v1.OrderPlaced) and
// Close the client on shutdown:
//
//	c, err := client.New(ctx, "https://collector.example.com", client.WithAPIKey(key))
//	...
//	defer c.Close(ctx)
//	res := c.Emit(ctx, &ordersv1.OrderPlaced{...})
//
// Emit never waits for the network: it queues the event and returns its
// Result. Call Result.Get to learn whether the collector accepted it. The
// type of the message names the event type; the collector checks the
// payload against the latest usable version of its contract (or the one
// pinned with WithSchemaID), so a client built against an older contract
// keeps working as long as the contract evolves compatibly.
//
// # Results
//
// Every event gets exactly one answer:
//
//   - accepted: Pub/Sub confirmed it; it will reach every sink. Get returns
//     the result and a nil error.
//   - rejected: it breaks its contract (a protovalidate rule, an unknown
//     field, an unknown type, a size limit). Get returns the result, with
//     the reason and the violations (field path, rule id, message), and a
//     *RejectedError. The collector also recorded it as a failed event.
//   - no answer: the retries ran out or the client was closed (Get returns
//     an error wrapping ErrRetriesExhausted or ErrClosed), or the call was
//     refused for good (UNAUTHENTICATED, PERMISSION_DENIED).
//
// # Batching and retries
//
// Events are sent in batches: when WithBatchCount events or WithBatchBytes
// bytes are queued, or WithBatchDelay after the first one, whichever comes
// first; WithMaxInflightBatches batches travel at once. A batch refused as a
// whole with UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED or ABORTED is
// sent again, and so are single events the collector answered RETRY (its
// Pub/Sub was unreachable), with exponential backoff and jitter
// (WithRetry). A refusal that carries a google.rpc.RetryInfo (a producer
// over its quota) is retried no sooner than the delay it asks for, however
// short the backoff. Every retry carries the same event ids, fixed at Emit
// (UUIDv7 unless WithEventID), so a retried event that did land twice is
// one row in the warehouse.
//
// # Shutdown
//
// Flush sends what is queued and waits for the answers; Close does the same
// and then closes the connection. Events still unanswered when Close's
// context ends are answered ErrClosed.
package client
