package bigquery

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hemlabs/hem/contract"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// The kinds of keysets as the keys table names them (fieldcrypt's
// Kind.String; sink/bigquery does not import Tink for two words).
const (
	kindAEAD          = "aead"
	kindDeterministic = "daead"
)

// FieldKeys is where a table's <table>_decrypted view finds the keysets of
// its encrypted fields (terraform/fieldcrypt.tf makes both).
type FieldKeys struct {
	// Table is the BigQuery table of wrapped keysets, project.dataset.table:
	// one row per keyset (object, event_type, kind "aead" or "daead",
	// subject_field and subject, NULL for an event type's keyset,
	// wrapped_keyset, created_at).
	Table string
	// KEK is the Cloud KMS key that wraps them, as KEYS.KEYSET_CHAIN names
	// it: gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K.
	KEK string
}

var (
	kekURI        = regexp.MustCompile(`^gcp-kms://projects/[a-z0-9.:-]+/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]+/cryptoKeys/[A-Za-z0-9_-]+$`)
	keysTableName = regexp.MustCompile(`^[a-z0-9.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_-]+$`)
)

// validate refuses what would not be a name in the view's SQL: both go
// into it as they are.
func (k FieldKeys) validate() error {
	if !kekURI.MatchString(k.KEK) {
		return fmt.Errorf("bigquery: the field KEK %q is not gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K", k.KEK)
	}
	if !keysTableName.MatchString(k.Table) {
		return fmt.Errorf("bigquery: the field keys table %q is not project.dataset.table", k.Table)
	}
	return nil
}

// DecryptedView names the view of a table with encrypted fields that shows
// them in clear to whoever may decrypt with the KEK.
func DecryptedView(table string) string { return table + "_decrypted" }

// DecryptedQuery is the query of a table's decrypting view, "" when none of
// its top-level columns is encrypted. It is the table with each encrypted
// top-level column (a string or bytes field, a StringValue or BytesValue,
// a repeated field or a map of them) replaced by its plaintext, decrypted
// with the keyset of its kind and scope from the keys table, which BigQuery
// unwraps with the KEK (KEYS.KEYSET_CHAIN) under the querying user's own
// Cloud KMS permission: the view gives no key to anyone. Ciphertexts and
// associated data are as fieldcrypt writes them (see its package doc): a
// string column holds the base64 of the ciphertext, a bytes column the
// ciphertext; the associated data is the field's full name. A data subject
// whose keys were erased reads NULL; the first keyset created for a name
// wins, as in fieldcrypt's stores. Encrypted fields inside records keep
// their ciphertext. subjectField is the contract's data_subject_field.
func DecryptedQuery(project, dataset string, t *contract.Table, subjectField string, keys FieldKeys) string {
	var repl []string
	joins := map[string]string{} // alias → join
	var order []string
	for _, c := range t.Columns {
		if c.Field == nil || !contract.Encrypted(c.Field) {
			continue
		}
		fo := contract.FieldOptions(c.Field)
		kind := kindAEAD
		if fo.GetPii() == optionsv1.PiiHandling_PII_HANDLING_ENCRYPT_DETERMINISTIC {
			kind = kindDeterministic
		}
		perSubject := fo.GetKeyScope() == optionsv1.KeyScope_KEY_SCOPE_DATA_SUBJECT
		if perSubject && subjectField == "" {
			continue // admission refuses it
		}
		alias := "k_" + kind
		if perSubject {
			alias += "_subject"
		}
		if _, ok := joins[alias]; !ok {
			joins[alias] = keysJoin(alias, t.Subject, kind, perSubject, subjectField, keys.Table)
			order = append(order, alias)
		}
		aad := string(c.Field.FullName())
		dec := func(v string, typ contract.Type) string { return decrypt(kind, alias, keys.KEK, v, typ, aad) }
		var expr string
		switch {
		case c.Mode == contract.Repeated && c.Type == contract.Record: // a map
			val := c.Fields[1]
			expr = fmt.Sprintf("ARRAY(SELECT AS STRUCT e.key, %s AS value FROM UNNEST(t.`%s`) AS e WITH OFFSET o ORDER BY o)", dec("e.value", val.Type), c.Name)
		case c.Mode == contract.Repeated:
			expr = fmt.Sprintf("ARRAY(SELECT %s FROM UNNEST(t.`%s`) AS v WITH OFFSET o ORDER BY o)", dec("v", c.Type), c.Name)
		default:
			expr = dec("t.`"+c.Name+"`", c.Type)
		}
		repl = append(repl, fmt.Sprintf("  %s AS `%s`", expr, c.Name))
	}
	if len(repl) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT t.* REPLACE (\n%s)\nFROM `%s.%s.%s` AS t", strings.Join(repl, ",\n"), project, dataset, t.Name)
	for _, a := range order {
		b.WriteString("\n" + joins[a])
	}
	return b.String()
}

// decrypt is the expression decrypting the ciphertext v of a column of type
// typ (STRING: base64; BYTES: as is), NULL when the keyset is missing.
func decrypt(kind string, alias, kek, v string, typ contract.Type, aad string) string {
	fn := "AEAD.DECRYPT_"
	if kind == kindDeterministic {
		fn = "DETERMINISTIC_DECRYPT_"
	}
	ct, ad := "FROM_BASE64("+v+")", "'"+aad+"'"
	if typ == contract.Bytes {
		fn += "BYTES"
		ct, ad = v, "b'"+aad+"'"
	} else {
		fn += "STRING"
	}
	return fmt.Sprintf("IF(%s.wrapped_keyset IS NULL, NULL, %s(KEYS.KEYSET_CHAIN('%s', %s.wrapped_keyset), %s, %s))", alias, fn, kek, alias, ct, ad)
}

// keysJoin joins the keysets of one kind and scope of the event type typ:
// the event type's (one row) or each data subject's (by the subject
// field's value as text, as the collector names the keyset).
func keysJoin(alias, typ, kind string, perSubject bool, subjectField, table string) string {
	if !perSubject {
		return fmt.Sprintf("CROSS JOIN (\n  SELECT ARRAY_AGG(wrapped_keyset ORDER BY created_at LIMIT 1)[SAFE_OFFSET(0)] AS wrapped_keyset\n"+
			"  FROM `%s`\n  WHERE event_type = '%s' AND kind = '%s' AND subject_field IS NULL) AS %s", table, typ, kind, alias)
	}
	return fmt.Sprintf("LEFT JOIN (\n  SELECT subject, ARRAY_AGG(wrapped_keyset ORDER BY created_at LIMIT 1)[OFFSET(0)] AS wrapped_keyset\n"+
		"  FROM `%s`\n  WHERE event_type = '%s' AND kind = '%s' AND subject_field = '%s'\n  GROUP BY subject) AS %s\n"+
		"ON %s.subject = CAST(t.`%s` AS STRING)", table, typ, kind, subjectField, alias, alias, subjectField)
}
