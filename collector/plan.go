package collector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	validate "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/hyperpb"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/cache"
	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/fieldcrypt"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/wire"
)

// plan is everything the hot path needs for one schema id, computed once:
// the hyperpb parser, the validator, the encoding plan (with the PII
// fields) and the entity key field. A plan is immutable and safe for
// concurrent use.
type plan struct {
	schema    *contract.Schema
	parser    *hyperpb.MessageType
	dynType   protoreflect.MessageType // for protojson (HTTP)
	json      *codec.JSON              // the HTTP fast path's program
	validator protovalidate.Validator
	codec     *codec.Codec
	hasPII    bool
	entityKey codec.KeyField
	keyed     bool // the contract names an entity key field
	// subject is the data subject field, when the contract names a usable
	// one (hasSubject); it picks the keys of KEY_SCOPE_DATA_SUBJECT fields.
	subject      codec.KeyField
	subjectField string
	hasSubject   bool
	ordered      bool
	// err is set when the schema cannot be used (e.g. its rules do not
	// compile); every event of it is rejected with this error.
	err error
}

func newPlan(s *contract.Schema) *plan {
	md := s.Descriptor()
	p := &plan{schema: s, dynType: dynamicpb.NewMessageType(md), json: codec.CompileJSON(md, false)}
	// The codec comes first: even a schema whose rules do not compile has
	// its PII handling applied to what its FailedEvents keep.
	p.parser = hyperpb.CompileMessageDescriptor(md)
	p.codec, p.hasPII = codec.Compile(md)
	v, err := protovalidate.New(protovalidate.WithMessageDescriptors(md), protovalidate.WithDisableLazy())
	if err != nil {
		p.err = fmt.Errorf("validation rules of schema %d do not compile: %w", s.ID, err)
		return p
	}
	p.validator = v
	if name := s.Options().GetDataSubjectField(); name != "" {
		if k, ok := p.codec.KeyField(name); ok {
			p.subject, p.subjectField, p.hasSubject = k, name, true
		}
	}
	if name := s.Options().GetEntityKeyField(); name != "" {
		if k, ok := p.codec.KeyField(name); ok {
			p.entityKey, p.keyed = k, true
			p.ordered = s.Options().GetOrdered()
		}
	}
	return p
}

// maxEntityKeyBytes is Pub/Sub's limit on an attribute value and an ordering
// key; longer keys are left out.
const maxEntityKeyBytes = 1024

var sharedPool = sync.Pool{New: func() any { return new(hyperpb.Shared) }}

// process is the per-event hot path: decode (hyperpb), re-encode
// canonically with PII handling applied while collecting unknown fields,
// validate (protovalidate) and extract the entity key. The output is
// appended to buf. It never panics on hostile input and returns exactly one
// of out or rej.
//
// applied says the payload's PII handling was applied before (a replayed
// FailedEvent, see failed.go): values that already look hashed stay as
// they are, and the rules of PII fields, which held on the real values,
// are not checked again.
func (p *plan) process(payload []byte, h *codec.Hasher, buf []byte, applied bool) (out []byte, key string, rej *rejection) {
	out, key, rej, err := p.processValidated(context.Background(), payload, h, nil, buf, applied, false)
	if err != nil {
		rej = &rejection{stage: eventv1.Stage_STAGE_TRANSFORM, reason: eventv1.Reason_REASON_TRANSFORM_FAILED, message: err.Error()}
	}
	return out, key, rej
}

// processValidated is process, without protovalidate when validated: the
// caller knows these payload bytes passed this plan's rules (see
// Input.Checked); and with the keys of encrypted fields from kr (see
// crypt.go), which may read the key store. A non-nil error is transient
// (RETRY).
func (p *plan) processValidated(ctx context.Context, payload []byte, h *codec.Hasher, kr *fieldcrypt.Keyring, buf []byte, applied, validated bool) (out []byte, key string, rej *rejection, err error) {
	if p.err != nil {
		return nil, "", &rejection{stage: eventv1.Stage_STAGE_VALIDATE, reason: eventv1.Reason_REASON_VALIDATION_FAILED, message: p.err.Error()}, nil
	}
	var shared *hyperpb.Shared
	defer func() {
		// Nothing that aliases the arena outlives this call: out is a copy,
		// key is cloned, violations are formatted strings.
		if shared != nil {
			shared.Free()
			sharedPool.Put(shared)
		}
	}()
	msg, err := p.decode(payload, &shared)
	if err != nil {
		return nil, "", &rejection{
			stage:   eventv1.Stage_STAGE_DECODE,
			reason:  eventv1.Reason_REASON_DECODE_FAILED,
			message: fmt.Sprintf("payload is not a valid %s: %v", p.schema.Subject, err),
		}, nil
	}
	enc := codec.Encoder{Hasher: h, Applied: applied}
	// keyRej is reported after the checks of the fields: an invalid event
	// (say, an empty data subject field its rules refuse) is rejected as
	// such. Without its keys, the encoder leaves the encrypted fields out
	// and records why; that output is never published.
	var keyRej *rejection
	if p.codec.Encrypts() != 0 {
		keys := new(fieldcrypt.Keys) // on the heap only for a contract that encrypts
		*keys, keyRej, err = p.keysOf(ctx, kr, msg, &enc)
		if err != nil {
			return nil, "", nil, err
		}
		if keyRej == nil {
			enc.Keys = keys
		}
	}
	if !p.hasPII && p.codec.Canonical(payload) {
		out = append(buf, payload...) // already what the encoder would write
	} else {
		out = enc.Encode(buf, msg, p.codec)
	}
	if unknown, more := enc.Unknown(); len(unknown) > 0 {
		msgs := make([]string, len(unknown))
		for i, v := range unknown {
			msgs[i] = v.GetMessage()
		}
		if more > 0 {
			msgs = append(msgs, fmt.Sprintf("and %d more unknown fields", more))
		}
		return nil, "", &rejection{
			stage:      eventv1.Stage_STAGE_DECODE,
			reason:     eventv1.Reason_REASON_UNKNOWN_FIELDS,
			message:    fmt.Sprintf("payload has fields schema %d of %s does not know: %s", p.schema.ID, p.schema.Subject, strings.Join(msgs, "; ")),
			violations: unknown,
		}, nil
	}
	if validated {
		// Nothing to check again.
	} else if err := p.validator.Validate(msg.Interface()); err != nil {
		if rej := validationRejection(err, p.piiPathFilter(applied), p.piiValues(msg)); rej != nil {
			return nil, "", rej, nil
		}
	}
	if keyRej != nil {
		return nil, "", keyRej, nil
	}
	if err := enc.Err(); err != nil {
		// Keys resolved and yet a field could not be encrypted: nothing of
		// it may be published.
		return nil, "", encryptRejection("hem.encrypt.failed", "", err.Error()), nil
	}
	if p.keyed {
		if key = p.entityKey.Of(msg, &enc); len(key) > maxEntityKeyBytes {
			key = ""
		}
	}
	return out, key, nil, nil
}

// decode decodes a producer's payload. Only bytes that wire.Known cleared
// reach hyperpb, which over-reads unknown groups (see the package doc);
// the rest (unknown fields, groups, anything odd, all of it rejected or
// rare) is decoded by protobuf-go into a dynamic message, and the encoder
// and validator read either the same way.
// A hyperpb message lives in *shared, taken from the pool; the caller
// frees it.
func (p *plan) decode(payload []byte, shared **hyperpb.Shared) (protoreflect.Message, error) {
	if wire.Known(payload, p.codec.Descriptor()) {
		*shared = sharedPool.Get().(*hyperpb.Shared)
		msg := (*shared).NewMessage(p.parser)
		if err := msg.Unmarshal(payload, hyperpb.WithMaxDepth(wire.MaxDepth), hyperpb.WithAllowAlias(true)); err != nil {
			return nil, err
		}
		return msg, nil
	}
	msg := dynamicpb.NewMessage(p.codec.Descriptor())
	if err := wire.Unmarshal(proto.UnmarshalOptions{RecursionLimit: wire.MaxDepth}, payload, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// validationRejection turns protovalidate's error into a rejection, or nil
// when skip leaves out every violation. The values of PII fields, pii, are
// withheld from its text (see errtext.go).
func validationRejection(err error, skip func(*validate.Violation) bool, pii []string) *rejection {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return &rejection{
			stage:   eventv1.Stage_STAGE_VALIDATE,
			reason:  eventv1.Reason_REASON_VALIDATION_FAILED,
			message: fmt.Sprintf("validation could not run: %v", err),
		}
	}
	r := &rejection{stage: eventv1.Stage_STAGE_VALIDATE, reason: eventv1.Reason_REASON_VALIDATION_FAILED}
	msgs := make([]string, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		pv := v.Proto
		if skip != nil && skip(pv) {
			continue
		}
		path := withholdPII(protovalidate.FieldPathString(pv.GetField()), pii)
		text := withholdPII(pv.GetMessage(), pii)
		r.violations = append(r.violations, &eventv1.Violation{FieldPath: path, RuleId: pv.GetRuleId(), Message: text})
		if path == "" {
			msgs = append(msgs, fmt.Sprintf("%s: %s", pv.GetRuleId(), text))
		} else {
			msgs = append(msgs, fmt.Sprintf("%s: %s: %s", path, pv.GetRuleId(), text))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	r.message = strings.Join(msgs, "; ")
	return r
}

// plans caches a plan per schema id (copy-on-write: reads take no lock). A
// plan serves only the contract it was built from, so two contracts that
// share an id (of two registries) never share one.
type plans struct{ m cache.Map[int64, *plan] }

func (ps *plans) get(s *contract.Schema) *plan {
	return ps.m.LoadOrBuild(s.ID,
		func(p *plan) bool { return p.schema.Fingerprint() == s.Fingerprint() },
		func() *plan { return newPlan(s) })
}

// subject is the subject of the schema id, when its plan is cached and it
// is a version of want (the subject the event named), else "": the label
// of a metric may only be a subject hem resolved.
func (ps *plans) subject(id int64, want string) string {
	if p, ok := ps.m.Load(id); ok && p.schema.Subject == want {
		return want
	}
	return ""
}
