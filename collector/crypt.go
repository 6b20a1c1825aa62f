package collector

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/fieldcrypt"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// Fields marked PII_HANDLING_ENCRYPT or PII_HANDLING_ENCRYPT_DETERMINISTIC
// are encrypted by the codec (see package codec and fieldcrypt) with keys
// resolved per event before it is encoded: the event type's, or its data
// subject's (the value of the contract's data_subject_field). Resolving
// may read or create a keyset in the key store on a cache miss (a new data
// subject). An event whose keys cannot be had is rejected with a rule id,
// after the checks of its fields (an invalid event is rejected as such
// first), and nothing of it is published in clear:
//
//   - hem.encrypt.data_subject_empty: the data subject field is empty;
//   - hem.encrypt.subject_erased: the data subject was erased (hem erase);
//     their events are refused from then on;
//   - hem.encrypt.key_corrupt: the keyset does not unwrap or is not one of
//     its kind;
//   - hem.encrypt.key_missing: the keyset does not exist (a key store the
//     collector may not create keys in);
//   - hem.encrypt.no_keys: the collector has no key store (WithFieldKeys).
//
// A key store that cannot be reached answers RETRY, like the registry.
// Their FailedEvents keep the payload only when its encrypted fields could
// be encrypted (see failed.go), so these ones keep none.

// keysOf resolves the keys of the event msg. A rejection is permanent; an
// error is transient (RETRY).
func (p *plan) keysOf(ctx context.Context, kr *fieldcrypt.Keyring, msg protoreflect.Message, enc *codec.Encoder) (fieldcrypt.Keys, *rejection, error) {
	need := p.codec.Encrypts()
	typ := p.schema.Subject
	if kr == nil {
		return fieldcrypt.Keys{}, encryptRejection("hem.encrypt.no_keys", "",
			fmt.Sprintf("%s has encrypted fields and this collector has no key store", typ)), nil
	}
	subject := ""
	if need.Subject() {
		if !p.hasSubject {
			// Admission refuses such a contract.
			return fieldcrypt.Keys{}, encryptRejection("hem.encrypt.no_data_subject", "",
				fmt.Sprintf("%s encrypts fields per data subject and names no usable data_subject_field", typ)), nil
		}
		subject = p.subject.Of(msg, enc)
	}
	keys, err := kr.Keys(ctx, typ, p.subjectField, subject, need)
	switch {
	case err == nil:
		return keys, nil, nil
	case errors.Is(err, fieldcrypt.ErrEmptySubject):
		rej := encryptRejection("hem.encrypt.data_subject_empty", p.subjectField,
			fmt.Sprintf("%s is empty: it names the data subject whose key encrypts this event's personal fields", p.subjectField))
		rej.stage = eventv1.Stage_STAGE_VALIDATE
		rej.reason = eventv1.Reason_REASON_VALIDATION_FAILED
		return keys, rej, nil
	case errors.Is(err, fieldcrypt.ErrErased):
		return keys, encryptRejection("hem.encrypt.subject_erased", p.subjectField,
			fmt.Sprintf("the data subject %s=%s was erased: their events are no longer taken", p.subjectField, subject)), nil
	case errors.Is(err, fieldcrypt.ErrCorrupt):
		return keys, encryptRejection("hem.encrypt.key_corrupt", "", err.Error()), nil
	case errors.Is(err, fieldcrypt.ErrNotFound):
		return keys, encryptRejection("hem.encrypt.key_missing", "", err.Error()), nil
	case ctx.Err() != nil:
		return keys, nil, ctx.Err()
	}
	return keys, nil, fmt.Errorf("key store unavailable: %w", err)
}

func encryptRejection(rule, path, msg string) *rejection {
	return &rejection{
		stage:      eventv1.Stage_STAGE_TRANSFORM,
		reason:     eventv1.Reason_REASON_TRANSFORM_FAILED,
		message:    msg,
		violations: []*eventv1.Violation{{FieldPath: path, RuleId: rule, Message: msg}},
	}
}
