package bigquery_test

import (
	"strings"
	"testing"

	bq "cloud.google.com/go/bigquery"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/sinktest"
)

var testKeys = bigquery.FieldKeys{
	Table: project + ".hem_keys.field_keys",
	KEK:   "gcp-kms://projects/hem-test/locations/us/keyRings/hem-fields/cryptoKeys/hem-field-kek",
}

// TestDecryptedQueryShape: the sample's per-member contract gets the view
// BigQuery's AEAD functions need, column by column: deterministic and
// random-nonce fields each with their kind's keyset of the event's
// member, base64 for string columns, the field's full name as associated
// data, a repeated field element by element in order, a wrapper like a
// string, and the member_id (the data subject) joined as text. The fake
// cannot run AEAD, so the SQL is compared whole; VERIFY in the README says
// what to run on BigQuery.
func TestDecryptedQueryShape(t *testing.T) {
	t.Parallel()
	sch := sinktest.Schemas(t)["shop.members.v1.MemberProfileUpdated"]
	table, err := contract.MapTable(sch.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	got := bigquery.DecryptedQuery(project, dataset, table, sch.Options().GetDataSubjectField(), testKeys)
	const chain = "KEYS.KEYSET_CHAIN('gcp-kms://projects/hem-test/locations/us/keyRings/hem-fields/cryptoKeys/hem-field-kek', "
	want := "SELECT t.* REPLACE (\n" +
		"  IF(k_daead_subject.wrapped_keyset IS NULL, NULL, DETERMINISTIC_DECRYPT_STRING(" + chain + "k_daead_subject.wrapped_keyset), FROM_BASE64(t.`email`), 'shop.members.v1.MemberProfileUpdated.email')) AS `email`,\n" +
		"  IF(k_aead_subject.wrapped_keyset IS NULL, NULL, AEAD.DECRYPT_STRING(" + chain + "k_aead_subject.wrapped_keyset), FROM_BASE64(t.`phone`), 'shop.members.v1.MemberProfileUpdated.phone')) AS `phone`,\n" +
		"  IF(k_aead_subject.wrapped_keyset IS NULL, NULL, AEAD.DECRYPT_STRING(" + chain + "k_aead_subject.wrapped_keyset), FROM_BASE64(t.`full_name`), 'shop.members.v1.MemberProfileUpdated.full_name')) AS `full_name`,\n" +
		"  IF(k_aead_subject.wrapped_keyset IS NULL, NULL, AEAD.DECRYPT_STRING(" + chain + "k_aead_subject.wrapped_keyset), FROM_BASE64(t.`nickname`), 'shop.members.v1.MemberProfileUpdated.nickname')) AS `nickname`,\n" +
		"  ARRAY(SELECT IF(k_aead_subject.wrapped_keyset IS NULL, NULL, AEAD.DECRYPT_STRING(" + chain + "k_aead_subject.wrapped_keyset), FROM_BASE64(v), 'shop.members.v1.MemberProfileUpdated.previous_emails')) FROM UNNEST(t.`previous_emails`) AS v WITH OFFSET o ORDER BY o) AS `previous_emails`)\n" +
		"FROM `hem-test.hem_events.shop_members_v1_member_profile_updated` AS t\n" +
		"LEFT JOIN (\n" +
		"  SELECT subject, ARRAY_AGG(wrapped_keyset ORDER BY created_at LIMIT 1)[OFFSET(0)] AS wrapped_keyset\n" +
		"  FROM `hem-test.hem_keys.field_keys`\n" +
		"  WHERE event_type = 'shop.members.v1.MemberProfileUpdated' AND kind = 'daead' AND subject_field = 'member_id'\n" +
		"  GROUP BY subject) AS k_daead_subject\n" +
		"ON k_daead_subject.subject = CAST(t.`member_id` AS STRING)\n" +
		"LEFT JOIN (\n" +
		"  SELECT subject, ARRAY_AGG(wrapped_keyset ORDER BY created_at LIMIT 1)[OFFSET(0)] AS wrapped_keyset\n" +
		"  FROM `hem-test.hem_keys.field_keys`\n" +
		"  WHERE event_type = 'shop.members.v1.MemberProfileUpdated' AND kind = 'aead' AND subject_field = 'member_id'\n" +
		"  GROUP BY subject) AS k_aead_subject\n" +
		"ON k_aead_subject.subject = CAST(t.`member_id` AS STRING)"
	if got != want {
		t.Errorf("DecryptedQuery:\n%s\nwant:\n%s", got, want)
	}
}

// TestDecryptedQueryKinds: an event type's keyset is cross joined (one
// row, NULL when none was made yet), bytes columns decrypt without base64
// and with bytes associated data, and a map keeps its keys in clear.
func TestDecryptedQueryKinds(t *testing.T) {
	t.Parallel()
	src := `syntax = "proto3";
package crypt.v1;
import "hem/options/v1/options.proto";
message Thing {
  option (hem.options.v1.event) = {};
  string id = 1;
  bytes secret = 2 [(hem.options.v1.field).pii = PII_HANDLING_ENCRYPT];
  map<string, string> notes = 3 [(hem.options.v1.field).pii = PII_HANDLING_ENCRYPT_DETERMINISTIC];
}
`
	srcs, err := contract.CompileSources(t.Context(), map[string]string{"crypt/v1/thing.proto": src})
	if err != nil {
		t.Fatal(err)
	}
	sch, err := srcs.Schema("crypt.v1.Thing")
	if err != nil {
		t.Fatal(err)
	}
	table, err := contract.MapTable(sch.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	got := bigquery.DecryptedQuery(project, dataset, table, "", testKeys)
	for _, want := range []string{
		"AEAD.DECRYPT_BYTES(KEYS.KEYSET_CHAIN('" + testKeys.KEK + "', k_aead.wrapped_keyset), t.`secret`, b'crypt.v1.Thing.secret')) AS `secret`",
		"ARRAY(SELECT AS STRUCT e.key, IF(k_daead.wrapped_keyset IS NULL, NULL, DETERMINISTIC_DECRYPT_STRING(KEYS.KEYSET_CHAIN('" + testKeys.KEK + "', k_daead.wrapped_keyset), FROM_BASE64(e.value), 'crypt.v1.Thing.notes')) AS value FROM UNNEST(t.`notes`) AS e WITH OFFSET o ORDER BY o) AS `notes`",
		"CROSS JOIN (\n  SELECT ARRAY_AGG(wrapped_keyset ORDER BY created_at LIMIT 1)[SAFE_OFFSET(0)] AS wrapped_keyset\n  FROM `hem-test.hem_keys.field_keys`\n  WHERE event_type = 'crypt.v1.Thing' AND kind = 'aead' AND subject_field IS NULL) AS k_aead",
		"AND kind = 'daead' AND subject_field IS NULL) AS k_daead",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("DecryptedQuery lacks\n%s\nin\n%s", want, got)
		}
	}
	if strings.Contains(got, "`id`") {
		t.Errorf("a column in clear is rewritten:\n%s", got)
	}
	plain := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	pt, err := contract.MapTable(plain.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	if q := bigquery.DecryptedQuery(project, dataset, pt, "", testKeys); q != "" {
		t.Errorf("a table without encrypted fields has a decrypting query:\n%s", q)
	}
}

// TestDecryptedViewMigrate: with FieldKeys, the migration makes
// <table>_decrypted for the tables with encrypted fields only, with the
// query DecryptedQuery says; the fake checks that the tables it names
// exist. Without FieldKeys there is none; a malformed KEK is refused.
func TestDecryptedViewMigrate(t *testing.T) {
	t.Parallel()
	keys := testKeys
	s, srv := newSink(t, bigquery.Config{FieldKeys: &keys})
	client, err := bq.NewClient(t.Context(), project, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Dataset("hem_keys").Create(t.Context(), &bq.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatal(err)
	}
	if err := client.Dataset("hem_keys").Table("field_keys").Create(t.Context(), &bq.TableMetadata{Schema: bq.Schema{
		{Name: "object", Type: bq.StringFieldType, Required: true},
		{Name: "event_type", Type: bq.StringFieldType, Required: true},
		{Name: "kind", Type: bq.StringFieldType, Required: true},
		{Name: "subject_field", Type: bq.StringFieldType},
		{Name: "subject", Type: bq.StringFieldType},
		{Name: "wrapped_keyset", Type: bq.BytesFieldType, Required: true},
		{Name: "created_at", Type: bq.TimestampFieldType, Required: true},
	}}); err != nil {
		t.Fatal(err)
	}
	views := 0
	for subject, sch := range sinktest.Schemas(t) {
		if err := s.Migrate(t.Context(), sch); err != nil {
			t.Fatalf("migrate %s: %v", subject, err)
		}
		table, err := contract.MapTable(sch.Descriptor())
		if err != nil {
			t.Fatal(err)
		}
		want := bigquery.DecryptedQuery(project, dataset, table, sch.Options().GetDataSubjectField(), keys)
		meta, err := client.Dataset(dataset).Table(bigquery.DecryptedView(table.Name)).Metadata(t.Context())
		if want == "" {
			if err == nil {
				t.Errorf("%s has no encrypted field, yet a decrypting view", subject)
			}
			continue
		}
		views++
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		if meta.Type != bq.ViewTable || meta.UseLegacySQL || meta.ViewQuery != want {
			t.Errorf("%s: view %v legacy=%v query:\n%s", subject, meta.Type, meta.UseLegacySQL, meta.ViewQuery)
		}
	}
	if views == 0 {
		t.Fatal("no sample contract has encrypted fields")
	}

	bad := keys
	bad.KEK = "projects/p/locations/us/keyRings/r/cryptoKeys/k'; DROP"
	if _, err := bigquery.New(t.Context(), bigquery.Config{Project: project, Dataset: dataset, FieldKeys: &bad}); err == nil {
		t.Error("New took a KEK that is not a gcp-kms URI")
	}
}
