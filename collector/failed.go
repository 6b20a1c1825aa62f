package collector

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	validate "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/fieldcrypt"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/wire"
)

// What a FailedEvent keeps of a rejected event's payload honours the
// contract's PII handling, as hem-events does: FailedEvents are stored (the
// failed-events table, hem-failed, the archive's failed/) where clear PII
// must never rest.
//
//   - A payload of a contract without PII fields, or of a type the registry
//     does not know (there is no handling to apply), is kept as sent.
//   - A payload of a contract with PII fields that decodes is kept with the
//     handling applied (hashed, redacted, dropped; fields the contract does
//     not know are left out, since they may hold anything), and the
//     original gets the attribute hem-pii=applied.
//   - A payload that cannot be decoded, or that is larger than the event
//     limit, of a contract with PII fields is not kept at all: the
//     original's payload holds only its type URL, and the FailedEvent's
//     message says so. Such an event cannot be replayed; its producer must
//     send it again.
//
// Replay: `hem replay --failed` sends each original back through the
// collector, which validates it again. With hem-pii=applied the collector
// keeps values that already look hashed (64 hex digits for strings, 32
// bytes for bytes) instead of hashing them twice (so hashed columns still
// join), and does not check the rules of PII fields again: they held on
// the real values, which hem never had after the first pass. Redacting and
// dropping are idempotent. An original whose non-PII fields were fixed
// (the usual replay) is accepted like the first time.

// failedPayload is what a FailedEvent keeps of e's payload and, when part
// of it was withheld or transformed, why. s is the resolved schema, or nil
// when the rejection came before it was resolved.
func (c *Collector) failedPayload(res *resolver, e *eventv1.Event, s *contract.Schema) (payload []byte, applied bool, withheld string) {
	value := e.GetPayload().GetValue()
	if len(value) == 0 {
		return value, false, ""
	}
	subject := subjectOf(e)
	if s == nil || s.Subject != subject {
		var err error
		s, err = c.contractOf(res, subject, e.GetSchemaId())
		switch {
		case err != nil:
			return nil, false, fmt.Sprintf("payload not kept: the registry could not say whether %s has PII fields (%v)", subject, err)
		case s == nil:
			return value, false, "" // no contract, no handling
		}
	}
	pl := c.plans.get(s)
	if !pl.hasPII {
		return value, false, ""
	}
	if len(value) > c.cfg.limits.MaxEventBytes {
		return nil, false, fmt.Sprintf("payload not kept: it is too large to apply the PII handling of %s", s.Subject)
	}
	out, why := pl.applyPII(res.ctx, c.cfg.fieldKeys, value, c.hasher, e.GetAttributes()[envelope.AttrPII] == envelope.PIIApplied)
	if why != "" {
		return nil, false, "payload not kept: " + why
	}
	return out, true, ""
}

// contractOf is the schema that states the PII handling of a payload of
// subject: the pinned version when it is one of subject, else the latest
// version of subject, usable or not. It is nil when the registry knows no
// version of subject.
func (c *Collector) contractOf(res *resolver, subject string, pinned int64) (*contract.Schema, error) {
	if pinned > 0 {
		if s, err := c.schemas.ByID(res.ctx, pinned); err == nil && s.Subject == subject {
			return s, nil
		}
	}
	s, err := res.latest(subject)
	switch {
	case isNotFound(err) || isRefused(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return s, nil
}

// applyPII decodes payload and encodes it again with the PII handling
// applied, its encrypted fields encrypted with keys from kr; why says why
// it could not (the payload is then not kept).
func (p *plan) applyPII(ctx context.Context, kr *fieldcrypt.Keyring, payload []byte, h *codec.Hasher, applied bool) (out []byte, why string) {
	msg := p.dynType.New()
	if err := wire.Unmarshal(proto.UnmarshalOptions{RecursionLimit: wire.MaxDepth, AllowPartial: true}, payload, msg.Interface()); err != nil {
		return nil, fmt.Sprintf("it does not decode as %s, so the PII handling of its fields could not be applied", p.schema.Subject)
	}
	enc := codec.Encoder{Hasher: h, Applied: applied}
	if p.codec.Encrypts() != 0 {
		keys, rej, err := p.keysOf(ctx, kr, msg, &enc)
		switch {
		case err != nil:
			return nil, fmt.Sprintf("its encrypted fields could not be encrypted (%v)", err)
		case rej != nil:
			return nil, fmt.Sprintf("its encrypted fields could not be encrypted (%s)", rej.violations[0].GetRuleId())
		}
		enc.Keys = &keys
	}
	out = enc.Encode(nil, msg, p.codec)
	if err := enc.Err(); err != nil {
		return nil, fmt.Sprintf("its encrypted fields could not be encrypted (%v)", err)
	}
	return out, ""
}

// piiPathFilter reports, when applied, whether a violation is about a PII
// field (at any depth): after a replay their values are hashed or
// redacted, and their rules held on the real values the first time.
func (p *plan) piiPathFilter(applied bool) func(*validate.Violation) bool {
	if !applied || !p.hasPII {
		return nil
	}
	return func(v *validate.Violation) bool {
		els := v.GetField().GetElements()
		nums := make([]protowire.Number, len(els))
		for i, el := range els {
			nums[i] = protowire.Number(el.GetFieldNumber())
		}
		return p.codec.PIIAlong(nums)
	}
}

// failedMessage builds the hem-failed message of a rejected event. The
// original keeps the event as sent, with the event id the collector
// answered (so a replay keeps it), and its payload as failedPayload says.
// Strings are made valid UTF-8, so it always encodes.
func (c *Collector) failedMessage(res *resolver, e *eventv1.Event, origin *eventv1.Origin, id string, p *auth.Principal, subject string, s *contract.Schema, schemaID int64, rej *rejection, now time.Time) (*pubsub.Message, error) {
	payload, applied, withheld := c.failedPayload(res, e, s)
	orig := &eventv1.Event{
		EventId:   validUTF8(id),
		EventTime: e.GetEventTime(),
		SchemaId:  e.GetSchemaId(),
	}
	if e.GetPayload() != nil {
		orig.Payload = &anypb.Any{TypeUrl: validUTF8(e.GetPayload().GetTypeUrl()), Value: payload}
	}
	if attrs := e.GetAttributes(); len(attrs) > 0 || applied {
		orig.Attributes = make(map[string]string, len(attrs)+1)
		for k, v := range maps.All(attrs) {
			orig.Attributes[validUTF8(k)] = validUTF8(v)
		}
		if applied {
			orig.Attributes[envelope.AttrPII] = envelope.PIIApplied
		}
	}
	original, err := proto.Marshal(orig)
	if err != nil {
		return nil, fmt.Errorf("encode original event: %w", err)
	}
	msg := rej.message
	if withheld != "" {
		msg += " (" + withheld + ")"
	}
	fo, cut := failedOrigin(origin, c.cfg.limits.MaxEventBytes)
	if cut != "" {
		msg += " (" + cut + ")"
	}
	fe := &eventv1.FailedEvent{
		Stage:      rej.stage,
		Reason:     rej.reason,
		Message:    validUTF8(msg),
		Violations: rej.violations,
		Type:       validUTF8(subject),
		SchemaId:   schemaID,
		EventId:    validUTF8(id),
		Producer:   p.Name,
		Attempts:   1,
		FailedAt:   timestamppb.New(now),
		Original:   original,
		Origin:     fo,
	}
	if err := fitFailed(fe, orig); err != nil {
		return nil, err
	}
	data, attrs, err := envelope.EncodeFailed(fe)
	if err != nil {
		return nil, err
	}
	return &pubsub.Message{Data: data, Attributes: attrs}, nil
}

// failedOrigin is o as a FailedEvent keeps it: a copy whose strings are
// valid UTF-8, so it always encodes. Its record is kept as the edge gave
// it (a file source withheld the values of PII columns already), up to
// limit bytes, as a payload is: a file's record may be far longer than an
// event, and a FailedEvent is a row of a table. note says what was cut.
func failedOrigin(o *eventv1.Origin, limit int) (_ *eventv1.Origin, note string) {
	if o == nil {
		return nil, ""
	}
	record := o.GetRecord()
	if len(record) > limit {
		note = fmt.Sprintf("origin record of %d bytes cut to the event limit of %d", len(record), limit)
		record = record[:limit]
	}
	return &eventv1.Origin{
		Source:     validUTF8(o.GetSource()),
		Uri:        validUTF8(o.GetUri()),
		Generation: o.GetGeneration(),
		Entry:      validUTF8(o.GetEntry()),
		Line:       o.GetLine(),
		Record:     strings.ToValidUTF8(record, ""),
	}, note
}

// maxFailedBytes bounds an encoded FailedEvent: Pub/Sub refuses a publish
// request over pubsub.MaxPublishRequestBytes, and the request also holds
// the topic name and the message's attributes (hem's few, at most a few KB).
const maxFailedBytes = int(pubsub.MaxPublishRequestBytes) - 64<<10

// fitFailed cuts fe down to maxFailedBytes, saying so in its message: a
// FailedEvent that cannot be published would turn a rejection into a RETRY
// the producer resends for ever. First the original's payload goes (its
// type URL, id and attributes stay), then the tail of the origin's record
// (a file's record), then violations from the end, then the message's tail. orig is the event fe.Original encodes.
func fitFailed(fe *eventv1.FailedEvent, orig *eventv1.Event) error {
	over := proto.Size(fe) - maxFailedBytes
	if over <= 0 {
		return nil
	}
	var notes []string
	if n := len(orig.GetPayload().GetValue()); n > 0 {
		orig.Payload = &anypb.Any{TypeUrl: orig.GetPayload().GetTypeUrl()}
		original, err := proto.Marshal(orig)
		if err != nil {
			return fmt.Errorf("encode original event: %w", err)
		}
		fe.Original = original
		notes = append(notes, fmt.Sprintf("original payload of %d bytes not kept: %d bytes over the publish limit", n, over))
	}
	if over = proto.Size(fe) - maxFailedBytes; over > 0 && len(fe.GetOrigin().GetRecord()) > 0 {
		// A file's record may be as long as its reader allows (16 MiB).
		n := len(fe.Origin.Record)
		fe.Origin.Record = strings.ToValidUTF8(fe.Origin.Record[:max(n-over-1024, 0)], "")
		notes = append(notes, fmt.Sprintf("origin record of %d bytes cut to %d: over the publish limit", n, len(fe.Origin.Record)))
	}
	if over = proto.Size(fe) - maxFailedBytes; over > 0 && len(fe.Violations) > 0 {
		all := fe.Violations
		fe.Violations = nil
		size := proto.Size(fe)
		var kept []*eventv1.Violation
		for _, v := range all {
			// A repeated message field: tag, length, message. Room is left
			// for the note added to the message.
			vs := protowire.SizeTag(4) + protowire.SizeBytes(proto.Size(v))
			if size+vs > maxFailedBytes-1024 {
				break
			}
			size += vs
			kept = append(kept, v)
		}
		fe.Violations = kept
		notes = append(notes, fmt.Sprintf("%d of %d violations not kept: over the publish limit", len(all)-len(kept), len(all)))
	}
	if len(notes) > 0 {
		fe.Message += " (" + strings.Join(notes, "; ") + ")"
	}
	if over = proto.Size(fe) - maxFailedBytes; over > 0 {
		const note = "… (message cut: over the publish limit)"
		cut := max(len(fe.Message)-over-len(note), 0)
		fe.Message = strings.ToValidUTF8(fe.Message[:cut], "") + note
	}
	if proto.Size(fe) > maxFailedBytes {
		return fmt.Errorf("failed event of %d bytes exceeds the publish limit of %d", proto.Size(fe), maxFailedBytes)
	}
	return nil
}
