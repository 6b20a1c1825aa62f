// Package envelope is how hem events travel on Pub/Sub: message data is the
// contract payload bytes (after PII transforms) and the metadata rides in
// attributes, so other consumers can filter on attributes.hem-type without
// decoding anything. Failed events travel on their own topic as serialized
// hem.event.v1.FailedEvent.
package envelope

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// Default topic names; every command that uses them has a flag.
const (
	EventsTopic = "hem-events"
	FailedTopic = "hem-failed"
)

// SubscriptionFor is the default subscription of a sink: hem-events-<sink>,
// or hem-failed-sink for the failed-events sink.
func SubscriptionFor(sink string) string {
	if sink == "failed" {
		return FailedTopic + "-sink"
	}
	return EventsTopic + "-" + sink
}

// Attribute names. Producer attributes may not start with AttrPrefix.
const (
	AttrPrefix     = "hem-"
	AttrEventID    = "hem-event-id"
	AttrType       = "hem-type"
	AttrSchemaID   = "hem-schema-id"
	AttrEventTime  = "hem-event-time"
	AttrReceivedAt = "hem-received-at"
	AttrProducer   = "hem-producer"
	AttrEntityKey  = "hem-entity-key"
	AttrStage      = "hem-stage"
	AttrReason     = "hem-reason"
	// AttrPII marks a FailedEvent's original whose payload already had its
	// contract's PII handling applied (value PIIApplied). It is the one
	// hem attribute a producer may send: a replay sends it back, and the
	// collector then does not hash again what is hashed.
	AttrPII    = "hem-pii"
	PIIApplied = "applied"
)

// Lineage attributes: where in a file an event was read, set by the
// collector from the Origin a file source gives it (never by a producer:
// the collector refuses hem- attributes on the wire). Unlike hem's other
// attributes, Decode keeps them in Attributes, so sinks store them with
// the event (its _attributes column). EncodeFailed sets them on a
// FailedEvent that has an origin, so subscriptions can filter on them.
const (
	AttrSource           = "hem-source"
	AttrSourceURI        = "hem-source-uri"
	AttrSourceGeneration = "hem-source-generation"
	AttrSourceEntry      = "hem-source-entry" // only for an archive's entry
	AttrSourceLine       = "hem-source-line"
)

// IsLineage reports whether k is one of the lineage attributes.
func IsLineage(k string) bool {
	switch k {
	case AttrSource, AttrSourceURI, AttrSourceGeneration, AttrSourceEntry, AttrSourceLine:
		return true
	}
	return false
}

// maxLineageValueBytes is Pub/Sub's limit on an attribute value: a longer
// value (an object name may have 1024 bytes) is cut, the FailedEvent's
// origin keeps it whole.
const maxLineageValueBytes = 1024

// Lineage returns the lineage attributes of o added to attrs (which it
// does not modify), or attrs when o is nil.
func Lineage(attrs map[string]string, o *eventv1.Origin) map[string]string {
	if o == nil {
		return attrs
	}
	out := make(map[string]string, len(attrs)+5)
	maps.Copy(out, attrs)
	addLineage(out, o)
	return out
}

func addLineage(attrs map[string]string, o *eventv1.Origin) {
	attrs[AttrSource] = cut(o.GetSource())
	attrs[AttrSourceURI] = cut(o.GetUri())
	attrs[AttrSourceGeneration] = strconv.FormatInt(o.GetGeneration(), 10)
	if o.GetEntry() != "" {
		attrs[AttrSourceEntry] = cut(o.GetEntry())
	}
	if o.GetLine() != 0 {
		attrs[AttrSourceLine] = strconv.FormatInt(o.GetLine(), 10)
	}
}

// OriginOf is the origin the lineage attributes of attrs describe, nil
// when they have none: what a FailedEvent built from a message says about
// the file the event came from. A value longer than an attribute takes
// comes back cut.
func OriginOf(attrs map[string]string) *eventv1.Origin {
	src, ok := attrs[AttrSource]
	if !ok {
		return nil
	}
	gen, _ := strconv.ParseInt(attrs[AttrSourceGeneration], 10, 64)
	line, _ := strconv.ParseInt(attrs[AttrSourceLine], 10, 64)
	return &eventv1.Origin{Source: src, Uri: attrs[AttrSourceURI], Generation: gen, Entry: attrs[AttrSourceEntry], Line: line}
}

// cut makes s a valid attribute value: valid UTF-8, at most
// maxLineageValueBytes.
func cut(s string) string {
	if len(s) > maxLineageValueBytes {
		s = s[:maxLineageValueBytes]
	}
	return strings.ToValidUTF8(s, "")
}

// Envelope is the metadata of an event on Pub/Sub.
type Envelope struct {
	EventID    string
	Type       string
	SchemaID   int64
	EventTime  time.Time
	ReceivedAt time.Time
	Producer   string
	EntityKey  string
	// Attributes are the producer's own attributes, and the lineage
	// attributes of an event a file source read.
	Attributes map[string]string
}

// Encode returns the Pub/Sub attributes of e.
func (e *Envelope) Encode() map[string]string {
	attrs := make(map[string]string, len(e.Attributes)+7)
	maps.Copy(attrs, e.Attributes)
	attrs[AttrEventID] = e.EventID
	attrs[AttrType] = e.Type
	attrs[AttrSchemaID] = strconv.FormatInt(e.SchemaID, 10)
	attrs[AttrEventTime] = formatTime(e.EventTime)
	attrs[AttrReceivedAt] = formatTime(e.ReceivedAt)
	if e.Producer != "" {
		attrs[AttrProducer] = e.Producer
	}
	if e.EntityKey != "" {
		attrs[AttrEntityKey] = e.EntityKey
	}
	return attrs
}

// Decode reads an Envelope from Pub/Sub attributes. The error names the
// first missing or malformed attribute.
func Decode(attrs map[string]string) (Envelope, error) {
	e := Envelope{
		EventID:   attrs[AttrEventID],
		Type:      attrs[AttrType],
		Producer:  attrs[AttrProducer],
		EntityKey: attrs[AttrEntityKey],
	}
	if e.EventID == "" {
		return e, fmt.Errorf("attribute %s is missing", AttrEventID)
	}
	if e.Type == "" {
		return e, fmt.Errorf("attribute %s is missing", AttrType)
	}
	id, err := strconv.ParseInt(attrs[AttrSchemaID], 10, 64)
	if err != nil || id <= 0 {
		return e, fmt.Errorf("attribute %s=%q is not a schema id", AttrSchemaID, attrs[AttrSchemaID])
	}
	e.SchemaID = id
	if e.EventTime, err = parseTime(attrs, AttrEventTime); err != nil {
		return e, err
	}
	if _, ok := attrs[AttrReceivedAt]; ok {
		if e.ReceivedAt, err = parseTime(attrs, AttrReceivedAt); err != nil {
			return e, err
		}
	}
	for k, v := range attrs {
		if !strings.HasPrefix(k, AttrPrefix) || IsLineage(k) {
			if e.Attributes == nil {
				e.Attributes = map[string]string{}
			}
			e.Attributes[k] = v
		}
	}
	return e, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(attrs map[string]string, key string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, attrs[key])
	if err != nil {
		return t, fmt.Errorf("attribute %s=%q is not an RFC 3339 time", key, attrs[key])
	}
	return t, nil
}

// EncodeFailed returns the Pub/Sub data and attributes of a failed event.
func EncodeFailed(fe *eventv1.FailedEvent) ([]byte, map[string]string, error) {
	data, err := proto.Marshal(fe)
	if err != nil {
		return nil, nil, fmt.Errorf("encode failed event: %w", err)
	}
	attrs := map[string]string{
		AttrEventID: fe.GetEventId(),
		AttrStage:   fe.GetStage().String(),
		AttrReason:  fe.GetReason().String(),
	}
	if fe.GetType() != "" {
		attrs[AttrType] = fe.GetType()
	}
	if fe.GetProducer() != "" {
		attrs[AttrProducer] = fe.GetProducer()
	}
	if fe.GetOrigin() != nil {
		addLineage(attrs, fe.GetOrigin())
	}
	return data, attrs, nil
}

// DecodeFailed reads a failed event from Pub/Sub data.
func DecodeFailed(data []byte) (*eventv1.FailedEvent, error) {
	var fe eventv1.FailedEvent
	if err := proto.Unmarshal(data, &fe); err != nil {
		return nil, fmt.Errorf("decode failed event: %w", err)
	}
	return &fe, nil
}
