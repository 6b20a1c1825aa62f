package wiring

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"

	duckdbdriver "github.com/duckdb/duckdb-go/v2"

	"github.com/hemlabs/hem/fieldcrypt"
)

// DecryptFuncName is the DuckDB function hem sql registers (DecryptFunc).
const DecryptFuncName = "hem_decrypt"

// DecryptFunc is hem sql's DuckDB function
//
//	hem_decrypt(field, subject_field, subject, value) → VARCHAR
//
// which decrypts value, an encrypted string column (base64 of a Tink
// ciphertext), with the keys of kr: field is the field's full name (its
// associated data; the event type is everything before its last dot),
// subject_field and subject the data subject of a KEY_SCOPE_DATA_SUBJECT
// field (” for KEY_SCOPE_EVENT_TYPE). It is NULL when value does not
// decrypt: an erased data subject, a missing key, not a ciphertext.
//
//	select member_id, hem_decrypt('shop.members.v1.MemberProfileUpdated.phone', 'member_id', member_id, phone)
//	from shop_members_v1_member_profile_updated
func DecryptFunc(kr *fieldcrypt.Keyring) duckdbdriver.ScalarFunc {
	return decryptFunc{kr: kr}
}

type decryptFunc struct{ kr *fieldcrypt.Keyring }

func (f decryptFunc) Config() duckdbdriver.ScalarFuncConfig {
	varchar, err := duckdbdriver.NewTypeInfo(duckdbdriver.TYPE_VARCHAR)
	if err != nil {
		panic(err) // a fixed, valid type
	}
	return duckdbdriver.ScalarFuncConfig{
		InputTypeInfos: []duckdbdriver.TypeInfo{varchar, varchar, varchar, varchar},
		ResultTypeInfo: varchar,
	}
}

func (f decryptFunc) Executor() duckdbdriver.ScalarFuncExecutor {
	return duckdbdriver.ScalarFuncExecutor{RowContextExecutor: f.decrypt}
}

func (f decryptFunc) decrypt(ctx context.Context, values []driver.Value) (any, error) {
	var args [4]string
	for i := range args {
		s, ok := values[i].(string)
		if !ok {
			return nil, errors.New("hem_decrypt: its arguments are strings")
		}
		args[i] = s
	}
	field, subjectField, subject, value := args[0], args[1], args[2], args[3]
	dot := strings.LastIndexByte(field, '.')
	if dot <= 0 {
		return nil, errors.New("hem_decrypt: field must be the field's full name, e.g. 'shop.members.v1.MemberProfileUpdated.phone'")
	}
	ct, err := fieldcrypt.DecodeString(value)
	if err != nil {
		return nil, nil
	}
	scope := fieldcrypt.EventType
	if subjectField != "" {
		scope = fieldcrypt.DataSubject
	}
	for _, kind := range []fieldcrypt.Kind{fieldcrypt.AEAD, fieldcrypt.Deterministic} {
		keys, err := f.kr.Keys(ctx, field[:dot], subjectField, subject, fieldcrypt.NeedOf(kind, scope))
		if err != nil {
			continue
		}
		if plain, err := keys.Open(kind, scope, ct, []byte(field)); err == nil {
			return string(plain), nil
		}
	}
	return nil, nil
}
