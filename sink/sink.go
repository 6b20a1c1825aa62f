package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
)

// Event is one decoded event on its way to a sink.
type Event struct {
	// ID is the event id; sinks keep one row per id where they can.
	ID string
	// Schema is the version the payload was written with.
	Schema *contract.Schema
	// Payload is the contract message as published (after PII transforms).
	Payload []byte
	// Message is Payload decoded with Schema's descriptor.
	Message protoreflect.Message
	// EventTime is when the fact happened.
	EventTime time.Time
	// ReceivedAt is when the collector accepted it.
	ReceivedAt time.Time
	// PublishedAt is when Pub/Sub stored it.
	PublishedAt time.Time
	// Producer names who sent it.
	Producer string
	// Attributes are the producer's own attributes (hem-* removed), and
	// the lineage attributes of an event a file source read (hem-source...,
	// see envelope.IsLineage).
	Attributes map[string]string
}

// Batch is events of one subject, bound for one table. Versions may differ
// within a batch; a sink writes each event with the columns of the newest
// version in the batch (docs/EVOLUTION.md, "How a table grows").
type Batch struct {
	Subject string
	Events  []*Event
}

// Newest returns the schema with the highest version in the batch.
func (b *Batch) Newest() *contract.Schema {
	var newest *contract.Schema
	for _, e := range b.Events {
		if newest == nil || e.Schema.Version > newest.Version {
			newest = e.Schema
		}
	}
	return newest
}

// Sink makes batches of events durable in one destination.
//
// Write returns nil when every event of the batch is durable; a *BatchError
// when some are and some are not; any other error when none is. Errors
// marked Permanent will never succeed (the processor dead-letters those
// events); all others are retried. Write may be called concurrently for
// different subjects; calls for one subject are not concurrent.
type Sink interface {
	Write(ctx context.Context, batch *Batch) error
	// Close flushes and releases resources. Write must not be called after.
	Close(ctx context.Context) error
}

// ErrPermanent is the sentinel behind Permanent errors.
var ErrPermanent = errors.New("permanent failure")

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// Permanent reports true: consumers that do not import sink (the registry
// running a sink's migration) recognise the failure by this method.
func (e permanentError) Permanent() bool { return true }

// Permanent marks err as one that retrying cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Permanentf is fmt.Errorf, marked Permanent.
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err, or an error it wraps, is Permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// ErrDuplicateID is behind the error a sink reports for an event whose id
// it already holds (or that came earlier in the same batch) with a
// different payload. The event first stored stays; this one is Permanent,
// so the processor records it as a FailedEvent with reason
// REASON_DUPLICATE_ID_DIFFERENT_PAYLOAD instead of letting it vanish. An
// identical copy (a redelivery) is no error.
var ErrDuplicateID = errors.New("a different event under an id already stored")

// DuplicateID is the Permanent error for event id, whose payload differs
// from the one stored under it.
func DuplicateID(id string) error {
	return Permanent(fmt.Errorf("event %s: %w", id, ErrDuplicateID))
}

// FirstOfEachID splits events by id: keep holds the index of the first
// event of each id, in order; differ holds each later event whose payload
// differs from that first one's (a DuplicateID error). Later identical
// copies are in neither: writing the first writes them. Payloads compare
// as bytes, or, when those differ and both are decoded, as messages.
func FirstOfEachID(events []*Event) (keep []int, differ map[int]error) {
	first := make(map[string]int, len(events))
	keep = make([]int, 0, len(events))
	for i, e := range events {
		j, seen := first[e.ID]
		if !seen {
			first[e.ID] = i
			keep = append(keep, i)
			continue
		}
		if !samePayload(events[j], e) {
			if differ == nil {
				differ = map[int]error{}
			}
			differ[i] = DuplicateID(e.ID)
		}
	}
	return keep, differ
}

func samePayload(a, b *Event) bool {
	if bytes.Equal(a.Payload, b.Payload) {
		return true
	}
	return a.Message != nil && b.Message != nil && proto.Equal(a.Message.Interface(), b.Message.Interface())
}

// BatchError reports which events of a batch failed. Events whose index is
// not in Failed were written durably.
type BatchError struct {
	// Failed maps the index of an event in Batch.Events to its error.
	Failed map[int]error
}

func (e *BatchError) Error() string {
	for i, err := range e.Failed {
		return fmt.Sprintf("%d of the batch's events failed, e.g. event %d: %v", len(e.Failed), i, err)
	}
	return "batch failed"
}

// ErrorFor returns the error of event i: nil when it was written, the
// per-event error when it failed. It works for any Write error, so callers
// need not special-case BatchError.
func ErrorFor(err error, i int) error {
	if err == nil {
		return nil
	}
	var be *BatchError
	if errors.As(err, &be) {
		return be.Failed[i]
	}
	return err
}
