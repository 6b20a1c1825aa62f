package bigquery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/bigquery"
)

// KeysTable writes the BigQuery keys table (FieldKeys.Table,
// terraform/fieldcrypt.tf's PREFIX_keys.field_keys) that the
// <table>_decrypted views join: one row per wrapped keyset. It is a mirror
// of the key store (GCS), which stays the source of truth; fieldcrypt
// creates a keyset there first and then puts it here.
//
// Rows are written with DML, not streamed: BigQuery refuses DELETE on rows
// still in a streaming buffer (for up to about 90 minutes), and an erasure
// must be able to delete a keyset the moment after it was created. Each
// call is one query job and blocks until it is done. It is safe for
// concurrent use.
type KeysTable struct {
	client *bigquery.Client
	table  string // project.dataset.table
}

// KeysetRow is one row of the keys table.
type KeysetRow struct {
	// Object is the keyset's name in the key store (fieldcrypt
	// Name.Object), the row's identity.
	Object    string
	EventType string
	// Kind is "aead" or "daead".
	Kind string
	// SubjectField and Subject are empty for an event type's keyset (NULL
	// in the table).
	SubjectField, Subject string
	Wrapped               []byte
	CreatedAt             time.Time
}

// KeysSchema is the keys table's schema, as terraform/fieldcrypt.tf creates
// it (tests create it from this).
func KeysSchema() bigquery.Schema {
	return bigquery.Schema{
		{Name: "object", Type: bigquery.StringFieldType, Required: true},
		{Name: "event_type", Type: bigquery.StringFieldType, Required: true},
		{Name: "kind", Type: bigquery.StringFieldType, Required: true},
		{Name: "subject_field", Type: bigquery.StringFieldType},
		{Name: "subject", Type: bigquery.StringFieldType},
		{Name: "wrapped_keyset", Type: bigquery.BytesFieldType, Required: true},
		{Name: "created_at", Type: bigquery.TimestampFieldType, Required: true},
	}
}

// NewKeysTable returns the writer of the keys table (project.dataset.table)
// through client.
func NewKeysTable(client *bigquery.Client, table string) (*KeysTable, error) {
	if client == nil || !keysTableName.MatchString(table) {
		return nil, fmt.Errorf("bigquery: a client and the keys table as project.dataset.table are required, not %q", table)
	}
	return &KeysTable{client: client, table: table}, nil
}

// Put adds a keyset's row unless a row of its object exists (a retried or
// repeated put changes nothing).
func (k *KeysTable) Put(ctx context.Context, r KeysetRow) error {
	if r.Object == "" || r.EventType == "" || (r.Kind != kindAEAD && r.Kind != kindDeterministic) || len(r.Wrapped) == 0 || (r.SubjectField == "") != (r.Subject == "") {
		return fmt.Errorf("bigquery: keys table: incomplete row for %q", r.Object)
	}
	sql := "INSERT INTO `" + k.table + "` (object, event_type, kind, subject_field, subject, wrapped_keyset, created_at)\n" +
		"SELECT @object, @event_type, @kind, @subject_field, @subject, @wrapped, @created_at FROM UNNEST([1])\n" +
		"WHERE NOT EXISTS (SELECT 1 FROM `" + k.table + "` WHERE object = @object)"
	_, err := k.dml(ctx, sql,
		bigquery.QueryParameter{Name: "object", Value: r.Object},
		bigquery.QueryParameter{Name: "event_type", Value: r.EventType},
		bigquery.QueryParameter{Name: "kind", Value: r.Kind},
		bigquery.QueryParameter{Name: "subject_field", Value: nullString(r.SubjectField)},
		bigquery.QueryParameter{Name: "subject", Value: nullString(r.Subject)},
		bigquery.QueryParameter{Name: "wrapped", Value: r.Wrapped},
		bigquery.QueryParameter{Name: "created_at", Value: r.CreatedAt.UTC()})
	if err != nil {
		return fmt.Errorf("bigquery: keys table: put %s: %w", r.Object, err)
	}
	return nil
}

// DeleteSubject deletes the rows of the data subject field=value and
// returns how many it deleted. They stay in the table's time travel and
// fail-safe windows (terraform sets 48 hours; fail-safe is 7 days).
func (k *KeysTable) DeleteSubject(ctx context.Context, field, value string) (int64, error) {
	if field == "" || value == "" {
		return 0, errors.New("bigquery: keys table: a data subject field and value are required")
	}
	n, err := k.dml(ctx, "DELETE FROM `"+k.table+"` WHERE subject_field = @field AND subject = @value",
		bigquery.QueryParameter{Name: "field", Value: field}, bigquery.QueryParameter{Name: "value", Value: value})
	if err != nil {
		return 0, fmt.Errorf("bigquery: keys table: delete %s=…: %w", field, err)
	}
	return n, nil
}

func nullString(s string) bigquery.NullString {
	return bigquery.NullString{StringVal: s, Valid: s != ""}
}

// dml runs one DML statement and returns the rows it changed.
func (k *KeysTable) dml(ctx context.Context, sql string, params ...bigquery.QueryParameter) (int64, error) {
	q := k.client.Query(sql)
	q.Parameters = params
	job, err := q.Run(ctx)
	if err != nil {
		return 0, err
	}
	st, err := job.Wait(ctx)
	if err != nil {
		return 0, err
	}
	if err := st.Err(); err != nil {
		return 0, err
	}
	if qs, ok := st.Statistics.Details.(*bigquery.QueryStatistics); ok {
		return qs.NumDMLAffectedRows, nil
	}
	return 0, nil
}
