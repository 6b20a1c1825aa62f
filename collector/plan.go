package collector

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	validate "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/hyperpb"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
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
	json      *jsonMessage             // the HTTP fast path's program
	validator protovalidate.Validator
	codec     *msgCodec
	hasPII    bool
	entityKey *fieldCodec
	ordered   bool
	// err is set when the schema cannot be used (e.g. its rules do not
	// compile); every event of it is rejected with this error.
	err error
}

func newPlan(s *contract.Schema) *plan {
	md := s.Descriptor()
	p := &plan{schema: s, dynType: dynamicpb.NewMessageType(md), json: compileJSON(md, false)}
	// The codec comes first: even a schema whose rules do not compile has
	// its PII handling applied to what its FailedEvents keep.
	p.parser = hyperpb.CompileMessageDescriptor(md)
	p.codec, p.hasPII = buildCodec(md)
	v, err := protovalidate.New(protovalidate.WithMessageDescriptors(md), protovalidate.WithDisableLazy())
	if err != nil {
		p.err = fmt.Errorf("validation rules of schema %d do not compile: %w", s.ID, err)
		return p
	}
	p.validator = v
	if name := s.Options().GetEntityKeyField(); name != "" {
		for i := range p.codec.fields {
			f := &p.codec.fields[i]
			if string(f.fd.Name()) == name && !f.fd.IsList() && f.mapKey == nil && f.child == nil {
				p.entityKey = f
				p.ordered = s.Options().GetOrdered()
			}
		}
	}
	return p
}

// maxDepth bounds nesting so hostile payloads cannot exhaust the stack.
const maxDepth = wire.MaxDepth

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
func (p *plan) process(payload []byte, h *hasher, buf []byte, applied bool) (out []byte, key string, rej *rejection) {
	if p.err != nil {
		return nil, "", &rejection{stage: eventv1.Stage_STAGE_VALIDATE, reason: eventv1.Reason_REASON_VALIDATION_FAILED, message: p.err.Error()}
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
		}
	}
	enc := encoder{h: h, applied: applied}
	if !p.hasPII && canonical(payload, p.codec, 0) {
		out = append(buf, payload...) // already what the encoder would write
	} else {
		out = enc.message(buf, msg, p.codec, nil)
	}
	if len(enc.unknown) > 0 {
		msgs := make([]string, len(enc.unknown))
		for i, v := range enc.unknown {
			msgs[i] = v.GetMessage()
		}
		if enc.moreUnknown > 0 {
			msgs = append(msgs, fmt.Sprintf("and %d more unknown fields", enc.moreUnknown))
		}
		return nil, "", &rejection{
			stage:      eventv1.Stage_STAGE_DECODE,
			reason:     eventv1.Reason_REASON_UNKNOWN_FIELDS,
			message:    fmt.Sprintf("payload has fields schema %d of %s does not know: %s", p.schema.ID, p.schema.Subject, strings.Join(msgs, "; ")),
			violations: enc.unknown,
		}
	}
	if err := p.validator.Validate(msg.Interface()); err != nil {
		if rej := validationRejection(err, p.piiPathFilter(applied), p.piiValues(msg)); rej != nil {
			return nil, "", rej
		}
	}
	if p.entityKey != nil {
		key = p.entityKeyOf(msg, &enc)
	}
	return out, key, nil
}

// decode decodes a producer's payload. Only bytes that wire.Known cleared
// reach hyperpb, which over-reads unknown groups (see the package doc);
// the rest (unknown fields, groups, anything odd, all of it rejected or
// rare) is decoded by protobuf-go into a dynamic message, and the encoder
// and validator read either the same way.
// A hyperpb message lives in *shared, taken from the pool; the caller
// frees it.
func (p *plan) decode(payload []byte, shared **hyperpb.Shared) (protoreflect.Message, error) {
	if wire.Known(payload, p.codec.md) {
		*shared = sharedPool.Get().(*hyperpb.Shared)
		msg := (*shared).NewMessage(p.parser)
		if err := msg.Unmarshal(payload, hyperpb.WithMaxDepth(maxDepth), hyperpb.WithAllowAlias(true)); err != nil {
			return nil, err
		}
		return msg, nil
	}
	msg := dynamicpb.NewMessage(p.codec.md)
	if err := wire.Unmarshal(proto.UnmarshalOptions{RecursionLimit: maxDepth}, payload, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// entityKeyOf is the entity key after PII handling (a hashed key stays
// hashed in attributes), cloned out of the message's arena.
func (p *plan) entityKeyOf(m protoreflect.Message, enc *encoder) string {
	f := p.entityKey
	if f.pii == piiDrop || !m.Has(f.fd) {
		return ""
	}
	v := enc.transform(f.fd.Kind(), m.Get(f.fd), f.pii)
	var s string
	switch f.fd.Kind() {
	case protoreflect.StringKind:
		s = strings.Clone(v.String())
	case protoreflect.BytesKind:
		s = string(v.Bytes())
	case protoreflect.EnumKind:
		if ev := f.fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			s = string(ev.Name())
		} else {
			s = strconv.Itoa(int(v.Enum()))
		}
	default:
		s = v.String()
	}
	if len(s) > maxEntityKeyBytes {
		return ""
	}
	return s
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

// pathElem is a lazily formatted field path (items[0].unit_price), built on
// the stack and only turned into a string when something is wrong.
type pathElem struct {
	parent *pathElem
	name   protoreflect.Name
	index  int // list index, or -1
	key    string
	hasKey bool
}

func (p *pathElem) String() string {
	if p == nil {
		return ""
	}
	var parts []*pathElem
	for e := p; e != nil; e = e.parent {
		parts = append(parts, e)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		e := parts[i]
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(string(e.name))
		switch {
		case e.hasKey:
			b.WriteString("[" + strconv.Quote(e.key) + "]")
		case e.index >= 0:
			b.WriteString("[" + strconv.Itoa(e.index) + "]")
		}
	}
	return b.String()
}

// plans caches a plan per schema id: lock-free reads of an immutable map,
// and a mutex with a double check for builds (copy-on-write).
type plans struct {
	mu sync.Mutex
	m  atomic.Pointer[map[int64]*plan]
}

func (ps *plans) get(s *contract.Schema) *plan {
	if m := ps.m.Load(); m != nil {
		if p, ok := (*m)[s.ID]; ok && p.schema.Fingerprint() == s.Fingerprint() {
			return p
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	old := ps.m.Load()
	if old != nil {
		if p, ok := (*old)[s.ID]; ok && p.schema.Fingerprint() == s.Fingerprint() {
			return p
		}
	}
	p := newPlan(s)
	next := make(map[int64]*plan, 1+lenMap(old))
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[s.ID] = p
	ps.m.Store(&next)
	return p
}

// subject is the subject of the schema id, when its plan is cached and it
// is a version of want (the subject the event named), else "": the label
// of a metric may only be a subject hem resolved.
func (ps *plans) subject(id int64, want string) string {
	if m := ps.m.Load(); m != nil {
		if p, ok := (*m)[id]; ok && p.schema.Subject == want {
			return want
		}
	}
	return ""
}

func lenMap(m *map[int64]*plan) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
