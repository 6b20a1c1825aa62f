// Package contract is hem's ground floor: what one version of an event
// contract is, a self-contained FileDescriptorSet, the event message it
// describes and the hem options on it; how .proto sources compile into such
// versions; and how a contract maps onto a warehouse table (MapTable: the
// proto → BigQuery mapping every sink and the registry share).
//
// A Schema is immutable once built and safe for concurrent use. It is the
// unit the registry stores, the collector validates against, the processor
// decodes with and the archive embeds.
//
// contract imports no other hem package but generated code; everything else
// in hem builds on it.
package contract

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
)

// State is the life-cycle state of a version.
type State int

const (
	// Pending versions are stored but their warehouse migrations have not
	// finished; collectors refuse events for them.
	Pending State = iota + 1
	// Usable versions accept events.
	Usable
)

func (s State) String() string {
	switch s {
	case Pending:
		return "PENDING"
	case Usable:
		return "USABLE"
	default:
		return "UNSPECIFIED"
	}
}

// ErrNotEvent is returned when a subject names a message without the
// (hem.options.v1.event) option (nor the (hem.options.v1.rollup) one: a
// rollup is a subject too).
var ErrNotEvent = errors.New("message is not an event type (it lacks option (hem.options.v1.event))")

// Schema is one version of a subject. Identity fields (ID, Version, State,
// CreatedAt) are set by the registry; a Schema built by Parse has zero values
// there until it is registered.
type Schema struct {
	ID        int64
	Subject   string
	Version   int
	State     State
	CreatedAt time.Time
	// Provenance, recorded by the registry when the version was admitted:
	// the principal that pushed it ("local" on a loopback registry without
	// keys) and the commit the pusher named, if any.
	PushedBy string
	Commit   string

	fingerprint   string
	descriptorSet []byte
	files         *protoregistry.Files
	desc          protoreflect.MessageDescriptor
	options       *optionsv1.EventOptions
	types         *Types
	rollup        bool
}

// Parse builds a Schema for subject from a serialized FileDescriptorSet. The
// set must hold the subject's file and every transitive import. The bytes are
// canonicalised, so equal contracts have equal fingerprints.
func Parse(subject string, fileDescriptorSet []byte) (*Schema, error) {
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(fileDescriptorSet, &fds); err != nil {
		return nil, fmt.Errorf("schema %s: decode descriptor set: %w", subject, err)
	}
	return fromSet(subject, &fds)
}

func fromSet(subject string, fds *descriptorpb.FileDescriptorSet) (*Schema, error) {
	canonical, err := proto.MarshalOptions{Deterministic: true}.Marshal(fds)
	if err != nil {
		return nil, fmt.Errorf("schema %s: encode descriptor set: %w", subject, err)
	}
	// Re-read the canonical bytes so option extensions hem and protovalidate
	// know are typed (the Go registry resolves them), whatever built the set.
	var typed descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(canonical, &typed); err != nil {
		return nil, fmt.Errorf("schema %s: decode descriptor set: %w", subject, err)
	}
	files, err := protodesc.NewFiles(&typed)
	if err != nil {
		return nil, fmt.Errorf("schema %s: resolve descriptor set: %w", subject, err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(subject))
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", subject, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("schema %s: not a message", subject)
	}
	opts, ok := subjectOptions(md)
	if !ok {
		return nil, fmt.Errorf("schema %s: %w", subject, ErrNotEvent)
	}
	return newSchema(md, opts, canonical, files), nil
}

// subjectOptions returns the event options of md; a rollup message, also a
// subject, has empty ones. ok is false for any other message.
func subjectOptions(md protoreflect.MessageDescriptor) (*optionsv1.EventOptions, bool) {
	if opts, ok := EventOptions(md); ok {
		return opts, true
	}
	if IsRollup(md) {
		return &optionsv1.EventOptions{}, true
	}
	return nil, false
}

// FromDescriptor builds the version of the event message md from md's file
// and its imports as they are resolved already, where Parse would decode and
// resolve them again. md must come from protodesc over a descriptor decoded
// with proto.Unmarshal, so its options are typed; an event option that is
// not typed reads as no event option (ErrNotEvent).
func FromDescriptor(md protoreflect.MessageDescriptor) (*Schema, error) {
	subject := string(md.FullName())
	opts, ok := subjectOptions(md)
	if !ok {
		return nil, fmt.Errorf("schema %s: %w", subject, ErrNotEvent)
	}
	set := DescriptorSet(md.ParentFile())
	canonical, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("schema %s: encode descriptor set: %w", subject, err)
	}
	files := new(protoregistry.Files)
	var register func(f protoreflect.FileDescriptor) error
	register = func(f protoreflect.FileDescriptor) error {
		if _, err := files.FindFileByPath(f.Path()); err == nil {
			return nil
		}
		imports := f.Imports()
		for i := range imports.Len() {
			if err := register(imports.Get(i).FileDescriptor); err != nil {
				return err
			}
		}
		return files.RegisterFile(f)
	}
	if err := register(md.ParentFile()); err != nil {
		return nil, fmt.Errorf("schema %s: %w", subject, err)
	}
	return newSchema(md, opts, canonical, files), nil
}

func newSchema(md protoreflect.MessageDescriptor, opts *optionsv1.EventOptions, canonical []byte, files *protoregistry.Files) *Schema {
	return &Schema{
		Subject:       string(md.FullName()),
		fingerprint:   fingerprint(md),
		descriptorSet: canonical,
		files:         files,
		desc:          md,
		options:       opts,
		types:         newTypes(md, files),
		rollup:        IsRollup(md),
	}
}

// Descriptor is the event message.
func (s *Schema) Descriptor() protoreflect.MessageDescriptor { return s.desc }

// Files resolves every file of the version, e.g. for protojson.
func (s *Schema) Files() *protoregistry.Files { return s.files }

// Options are the event options of the message (empty for a rollup).
func (s *Schema) Options() *optionsv1.EventOptions { return s.options }

// IsRollup reports whether the subject is a rollup (option
// (hem.options.v1.rollup)) rather than an event type: events of it are
// never collected, hem computes its rows.
func (s *Schema) IsRollup() bool { return s.rollup }

// Rollup parses the subject's rollup declaration (ParseRollup).
func (s *Schema) Rollup() (*Rollup, error) { return ParseRollup(s.desc) }

// DescriptorSet is the canonical serialized FileDescriptorSet. Callers must
// not modify it.
func (s *Schema) DescriptorSet() []byte { return s.descriptorSet }

// Fingerprint identifies the contract: a hex SHA-256 over the descriptors
// and comments of every type reachable from the event. Equal fingerprints
// mean the registry treats two pushes as the same version.
func (s *Schema) Fingerprint() string { return s.fingerprint }

// NewMessage returns an empty dynamic message of the event type.
func (s *Schema) NewMessage() *dynamicpb.Message { return dynamicpb.NewMessage(s.desc) }

// WithIdentity returns a copy of s carrying registry-assigned identity.
func (s *Schema) WithIdentity(id int64, version int, state State, createdAt time.Time) *Schema {
	c := *s
	c.ID, c.Version, c.State, c.CreatedAt = id, version, state, createdAt
	return &c
}

// Proto converts s to its API form. withDescriptorSet=false leaves the
// descriptor set out, for listings.
func (s *Schema) Proto(withDescriptorSet bool) *registryv1.Schema {
	p := &registryv1.Schema{
		Id:          s.ID,
		Subject:     s.Subject,
		Version:     int32(s.Version),
		Fingerprint: s.fingerprint,
		State:       registryv1.SchemaState(s.State),
	}
	if !s.CreatedAt.IsZero() {
		p.CreatedAt = timestamppb.New(s.CreatedAt)
	}
	p.PushedBy, p.Commit = s.PushedBy, s.Commit
	if withDescriptorSet {
		p.FileDescriptorSet = s.descriptorSet
	}
	return p
}

// FromProto converts the API form back into a Schema. The descriptor set
// must be present.
func FromProto(p *registryv1.Schema) (*Schema, error) {
	if len(p.GetFileDescriptorSet()) == 0 {
		return nil, fmt.Errorf("schema %s: descriptor set missing", p.GetSubject())
	}
	s, err := Parse(p.GetSubject(), p.GetFileDescriptorSet())
	if err != nil {
		return nil, err
	}
	var created time.Time
	if p.GetCreatedAt() != nil {
		created = p.GetCreatedAt().AsTime()
	}
	s = s.WithIdentity(p.GetId(), int(p.GetVersion()), State(p.GetState()), created)
	s.PushedBy, s.Commit = p.GetPushedBy(), p.GetCommit()
	return s, nil
}

// FailedEventSchema is the built-in schema of hem.event.v1.FailedEvent, which
// the failed sink stores like any event (table _failed_events). It has id 0
// and version 1: it is part of hem, not of the registry.
func FailedEventSchema() *Schema {
	return failedEventSchema()
}

var failedEventSchema = sync.OnceValue(func() *Schema {
	fd := eventv1.File_hem_event_v1_event_proto
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(DescriptorSet(fd))
	if err != nil {
		panic(fmt.Sprintf("schema: encode built-in FailedEvent: %v", err))
	}
	s, err := Parse(string((&eventv1.FailedEvent{}).ProtoReflect().Descriptor().FullName()), b)
	if err != nil {
		panic(fmt.Sprintf("schema: build built-in FailedEvent: %v", err))
	}
	return s.WithIdentity(0, 1, Usable, time.Time{})
})
