package fieldcrypt

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Kind is the primitive a keyset serves.
type Kind uint8

const (
	// AEAD is Tink AEAD with AES-256-GCM (PII_HANDLING_ENCRYPT).
	AEAD Kind = iota + 1
	// Deterministic is Tink deterministic AEAD with AES-SIV
	// (PII_HANDLING_ENCRYPT_DETERMINISTIC).
	Deterministic
)

func (k Kind) String() string {
	switch k {
	case AEAD:
		return "aead"
	case Deterministic:
		return "daead"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Scope is which key of an event type a field uses.
type Scope uint8

const (
	// EventType: one key per event type (KEY_SCOPE_EVENT_TYPE).
	EventType Scope = iota
	// DataSubject: one key per value of the event's data_subject_field
	// (KEY_SCOPE_DATA_SUBJECT).
	DataSubject
)

// Name names one keyset.
type Name struct {
	// Type is the event type (the message's full name).
	Type string
	Kind Kind
	// SubjectField and Subject name the data subject of a DataSubject
	// key (e.g. member_id and 42); both are empty for an EventType key.
	SubjectField string
	Subject      string
}

// Scope is the scope of the key n names.
func (n Name) Scope() Scope {
	if n.SubjectField != "" {
		return DataSubject
	}
	return EventType
}

// String is n for messages; it holds the data subject's value.
func (n Name) String() string {
	if n.Scope() == DataSubject {
		return fmt.Sprintf("%s %s key of %s=%s", n.Type, n.Kind, n.SubjectField, n.Subject)
	}
	return fmt.Sprintf("%s %s key", n.Type, n.Kind)
}

// Object is the blob name of n's wrapped keyset in a Store:
//
//	type/<event type>/<kind>
//	subject/<subject field>/<hex of the value>/<event type>/<kind>
//
// so a data subject's keys of every event type share a prefix
// (SubjectPrefix) and are erased together. The value is hex encoded: it
// may hold any byte, and folders on case-insensitive file systems must not
// merge two values.
func (n Name) Object() string {
	if n.Scope() == DataSubject {
		return SubjectPrefix(n.SubjectField, n.Subject) + n.Type + "/" + n.Kind.String()
	}
	return "type/" + n.Type + "/" + n.Kind.String()
}

// SubjectPrefix is the prefix of the objects of one data subject's keys.
func SubjectPrefix(field, value string) string {
	return "subject/" + field + "/" + hex.EncodeToString([]byte(value)) + "/"
}

// erasedObject is the tombstone of an erased data subject.
func erasedObject(field, value string) string { return SubjectPrefix(field, value) + "erased" }

func (n Name) validate() error {
	if n.Kind != AEAD && n.Kind != Deterministic {
		return fmt.Errorf("fieldcrypt: %v: unknown kind", n)
	}
	if !isIdent(n.Type, true) {
		return fmt.Errorf("fieldcrypt: event type %q is not a protobuf full name", n.Type)
	}
	if n.SubjectField != "" && !isIdent(n.SubjectField, false) {
		return fmt.Errorf("fieldcrypt: data subject field %q is not a field name", n.SubjectField)
	}
	if n.SubjectField != "" && n.Subject == "" {
		return ErrEmptySubject
	}
	return nil
}

// isIdent: letters, digits, underscores (and dots between them for a full
// name), so names are safe in object names and paths.
func isIdent(s string, dots bool) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || (!dots && part != s) {
			return false
		}
		for _, c := range part {
			if c != '_' && (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
				return false
			}
		}
	}
	return true
}

var (
	// ErrNotFound: the keyset does not exist (and the keyring does not
	// create keysets).
	ErrNotFound = errors.New("fieldcrypt: key not found")
	// ErrErased: the data subject was erased; their keys are gone and
	// none is created again.
	ErrErased = errors.New("fieldcrypt: data subject erased")
	// ErrCorrupt: the keyset does not unwrap with the KEK or is not a
	// keyset of its kind.
	ErrCorrupt = errors.New("fieldcrypt: keyset corrupt")
	// ErrEmptySubject: an event's data subject field is empty, so there is
	// no key to encrypt its data subject's fields with.
	ErrEmptySubject = errors.New("fieldcrypt: data subject field is empty")
	// ErrExists is what Store.Create answers for an object that exists.
	ErrExists = errors.New("fieldcrypt: object exists")
)
