package compat_test

import (
	"testing"

	"github.com/hemlabs/hem/registry/compat"
)

// Admission of encrypted fields: a ciphertext needs a string or bytes
// field; an encrypted field cannot partition, cluster or key; a data
// subject's key needs a top-level scalar data_subject_field in clear.
func TestEncryptedFieldAdmission(t *testing.T) {
	t.Parallel()
	const ok = ""
	enc := func(field, scope string) []string {
		opts := `(hem.options.v1.field).pii = PII_HANDLING_ENCRYPT`
		if scope != "" {
			opts += `, (hem.options.v1.field).key_scope = ` + scope
		}
		return []string{field + ";", field + " [" + opts + "];"}
	}
	subject := func(field string) []string {
		return []string{`entity_key_field: "order_id"`, `entity_key_field: "order_id", data_subject_field: "` + field + `"`}
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		edits []string
		rule  string
	}{
		{"an encrypted string", enc("string note = 12", ""), ok},
		{"an encrypted map's values", enc("map<string, string> labels = 8", ""), ok},
		{"a deterministic string", []string{"string note = 12;", "string note = 12 [(hem.options.v1.field).pii = PII_HANDLING_ENCRYPT_DETERMINISTIC];"}, ok},
		{"an encrypted integer", enc("int32 n = 6", ""), "EV-L10"},
		{"an encrypted message", enc("repeated Item items = 3", ""), "EV-L10"},
		{"an encrypted entity key", []string{"string order_id = 1 [(buf.validate.field).string.min_len = 1];", "string order_id = 1 [(buf.validate.field).string.min_len = 1, (hem.options.v1.field).pii = PII_HANDLING_ENCRYPT];"}, "EV-L10"},
		{"an encrypted clustering field", cat(enc("string tag = 5", ""), []string{`entity_key_field: "order_id"`, `entity_key_field: "order_id", clustering_fields: ["tag"]`}), "EV-L10"},
		{"a key scope on a field in clear", []string{"string note = 12;", "string note = 12 [(hem.options.v1.field).key_scope = KEY_SCOPE_EVENT_TYPE];"}, "EV-L10"},
		{"per data subject, named", cat(enc("string note = 12", "KEY_SCOPE_DATA_SUBJECT"), subject("userid")), ok},
		{"per data subject, no data_subject_field", enc("string note = 12", "KEY_SCOPE_DATA_SUBJECT"), "EV-L10"},
		{"per data subject, a missing field", cat(enc("string note = 12", "KEY_SCOPE_DATA_SUBJECT"), subject("nobody")), "EV-L10"},
		{"per data subject, a repeated field", cat(enc("string note = 12", "KEY_SCOPE_DATA_SUBJECT"), subject("items")), "EV-L10"},
		{"the data subject field encrypted", cat(enc("string userid = 9", ""), enc("string note = 12", "KEY_SCOPE_DATA_SUBJECT"), subject("userid")), "EV-L10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := compat.Lint(version(t, base, c.edits...))
			if c.rule == ok {
				if len(got) != 0 {
					t.Fatalf("refused: %v", got)
				}
				return
			}
			for _, v := range got {
				if v.Rule == c.rule {
					return
				}
			}
			t.Fatalf("got %v, want a %s refusal", got, c.rule)
		})
	}
}
