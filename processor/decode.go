package processor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"buf.build/go/hyperpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/cache"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/wire"
)

// Schemas resolves schema ids. *registry.Client is one; it caches ids
// forever, since versions are immutable. ByID is called concurrently.
type Schemas interface {
	ByID(ctx context.Context, id int64) (*contract.Schema, error)
}

// decodeError is a message that can never be decoded: it becomes a
// FailedEvent.
type decodeError struct {
	reason eventv1.Reason
	err    error
}

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// parsers caches a hyperpb parser per schema id (copy-on-write: reads take
// no lock). A parser serves only the descriptor it was compiled from, so
// two schemas that share an id (of two registries) never share one.
type parsers struct {
	m cache.Map[int64, *hyperpb.MessageType]
}

// of returns the parser of s's message.
func (c *parsers) of(s *contract.Schema) *hyperpb.MessageType {
	return c.m.LoadOrBuild(s.ID,
		func(t *hyperpb.MessageType) bool { return t.Descriptor() == s.Descriptor() },
		func() *hyperpb.MessageType { return hyperpb.CompileMessageDescriptor(s.Descriptor()) })
}

// decode turns a message of the events topic into a sink event. A
// *decodeError means the message can never be decoded; other errors (the
// registry is unreachable) may pass. With payloadOnly the event's Message
// is nil when the payload is well-formed.
//
// A payload that passes the wire check (wire.Known, which also keeps
// hyperpb away from the unknown groups it over-reads) is decoded with
// hyperpb when parsers is not nil: the event's Message is then read-only
// (sinks only read it), and aliases Payload. Other payloads are decoded
// with dynamicpb.
func decode(ctx context.Context, schemas Schemas, parsers *parsers, permanent func(error) bool, m *Message, payloadOnly bool) (*sink.Event, error) {
	env, err := envelope.Decode(m.Attributes)
	if err != nil {
		return nil, &decodeError{eventv1.Reason_REASON_INVALID_ENVELOPE, err}
	}
	s, err := schemas.ByID(ctx, env.SchemaID)
	if err != nil {
		err = fmt.Errorf("schema id %d: %w", env.SchemaID, err)
		if permanent(err) {
			return nil, &decodeError{eventv1.Reason_REASON_SCHEMA_NOT_FOUND, err}
		}
		return nil, err
	}
	if s.Subject != env.Type {
		return nil, &decodeError{eventv1.Reason_REASON_INVALID_ENVELOPE,
			fmt.Errorf("schema id %d is a %s, but the event says it is a %s", s.ID, s.Subject, env.Type)}
	}
	ev := &sink.Event{
		ID:          env.EventID,
		Schema:      s,
		Payload:     m.Data,
		EventTime:   env.EventTime,
		ReceivedAt:  env.ReceivedAt,
		PublishedAt: m.PublishTime,
		Producer:    env.Producer,
		Attributes:  env.Attributes,
	}
	known := wire.Known(m.Data, s.Descriptor())
	if known && payloadOnly {
		return ev, nil
	}
	if known && parsers != nil {
		hm := hyperpb.NewMessage(parsers.of(s))
		if err := hm.Unmarshal(m.Data, hyperpb.WithAllowAlias(true)); err == nil {
			ev.Message = hm
			return ev, nil
		}
		// What hyperpb refuses, dynamicpb decides, so failures read the same.
	}
	msg := s.NewMessage()
	if err := wire.Unmarshal(proto.UnmarshalOptions{DiscardUnknown: false, AllowPartial: true}, m.Data, msg); err != nil {
		return nil, &decodeError{eventv1.Reason_REASON_DECODE_FAILED,
			fmt.Errorf("payload is not a %s (schema id %d): %w", s.Subject, s.ID, err)}
	}
	// Unknown fields mean the payload was not written with this schema id:
	// the collector rejects them, so they are not new fields of a newer
	// version but a producer or a replay that lied about the version.
	if !known && hasUnknown(msg) {
		return nil, &decodeError{eventv1.Reason_REASON_UNKNOWN_FIELDS,
			fmt.Errorf("payload has fields that %s (schema id %d) does not declare", s.Subject, s.ID)}
	}
	ev.Message = msg
	return ev, nil
}

// decodeFailed turns a message of the hem-failed topic into a sink event of
// the built-in FailedEvent schema. Its id is the Pub/Sub message id, stable
// across redeliveries; sinks that keep one row per failure key it by
// sink.FailureKey.
func decodeFailed(m *Message) (*sink.Event, error) {
	s := contract.FailedEventSchema()
	msg := s.NewMessage()
	// Unknown fields are kept: a newer hem may have added some.
	if err := wire.Unmarshal(proto.UnmarshalOptions{}, m.Data, msg); err != nil {
		return nil, &decodeError{eventv1.Reason_REASON_DECODE_FAILED, fmt.Errorf("not a hem.event.v1.FailedEvent: %w", err)}
	}
	var fe eventv1.FailedEvent
	_ = proto.Unmarshal(m.Data, &fe) // cannot fail: the dynamic message above decoded
	ev := &sink.Event{
		ID:          m.ID,
		Schema:      s,
		Payload:     m.Data,
		Message:     msg,
		EventTime:   fe.GetFailedAt().AsTime(),
		PublishedAt: m.PublishTime,
		Producer:    fe.GetProducer(),
		Attributes:  producerAttributes(m.Attributes),
	}
	if fe.GetFailedAt() == nil {
		ev.EventTime = m.PublishTime
	}
	return ev, nil
}

// hasUnknown reports whether m or any message inside it holds fields its
// descriptor does not declare.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					found = hasUnknown(mv.Message())
					return !found
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				l := v.List()
				for i := range l.Len() {
					if found = hasUnknown(l.Get(i).Message()); found {
						break
					}
				}
			}
		case fd.Message() != nil:
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}

// failedEvent describes a message that cannot go on. Original is the
// message rebuilt as the hem.event.v1.Event a producer would send, with the
// payload byte for byte, so it can be replayed through the collector; every
// field is best effort, since the attributes may be what is broken. The
// payload of a message on the events topic had its PII handling applied by
// the collector, so the original says so (wire.AttrPII): a replay does not
// hash it twice.
func failedEvent(m *Message, stage eventv1.Stage, reason eventv1.Reason, cause error, attempt int, now time.Time) *eventv1.FailedEvent {
	subject := m.Attributes[envelope.AttrType]
	schemaID, _ := strconv.ParseInt(m.Attributes[envelope.AttrSchemaID], 10, 64)
	original := &eventv1.Event{
		EventId:    m.Attributes[envelope.AttrEventID],
		Payload:    &anypb.Any{TypeUrl: "type.googleapis.com/" + subject, Value: m.Data},
		Attributes: producerAttributes(m.Attributes),
		SchemaId:   schemaID,
	}
	if original.Attributes == nil {
		original.Attributes = map[string]string{}
	}
	original.Attributes[envelope.AttrPII] = envelope.PIIApplied
	if t, err := time.Parse(time.RFC3339Nano, m.Attributes[envelope.AttrEventTime]); err == nil {
		original.EventTime = timestamppb.New(t)
	}
	raw, _ := proto.Marshal(original) // cannot fail: its strings came from Pub/Sub, which holds valid UTF-8
	return &eventv1.FailedEvent{
		Stage:    stage,
		Reason:   reason,
		Message:  strings.ToValidUTF8(cause.Error(), "\uFFFD"),
		Type:     strings.ToValidUTF8(subject, "\uFFFD"),
		SchemaId: schemaID,
		EventId:  original.EventId,
		Producer: strings.ToValidUTF8(m.Attributes[envelope.AttrProducer], "\uFFFD"),
		Attempts: int32(min(attempt, 1<<30)),
		FailedAt: timestamppb.New(now),
		Original: raw,
		Origin:   envelope.OriginOf(m.Attributes),
	}
}

// producerAttributes are the attributes that are not hem's own.
func producerAttributes(attrs map[string]string) map[string]string {
	var out map[string]string
	for k, v := range attrs {
		if !strings.HasPrefix(k, envelope.AttrPrefix) {
			if out == nil {
				out = make(map[string]string, len(attrs))
			}
			out[k] = v
		}
	}
	return out
}
