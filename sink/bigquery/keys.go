package bigquery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
)

// KeysTable writes the BigQuery keys table (FieldKeys.Table,
// terraform/fieldcrypt.tf's PREFIX_keys.field_keys) that the
// <table>_decrypted views join: one row per wrapped keyset. It is a mirror
// of the key store (GCS), which stays the source of truth; fieldcrypt
// creates a keyset there first and then puts it here.
//
// Rows are written with DML, not streamed: BigQuery refuses DELETE on rows
// still in a streaming buffer (for up to about 90 minutes), and an erasure
// must be able to delete a keyset the moment after it was created. A call
// runs its jobs one after another and blocks until they are done: Put and
// Delete batch many rows into one job, so that a burst of new data
// subjects or a sync of a large key store stays within BigQuery's DML
// limits. It is safe for concurrent use.
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

// KeysPutRows and KeysPutBytes bound one INSERT job of Put: at most
// KeysPutRows rows (the query's parameters stay under BigQuery's 10,000
// even if each array element counts as one) and KeysPutBytes of rows as
// KeysetRow.Size counts them (the request stays far below BigQuery's 10 MB).
// A longer Put takes more jobs, one after another.
const (
	KeysPutRows  = 1000
	KeysPutBytes = 1 << 20
)

// keysDeleteObjects bounds the objects of one DELETE job of Delete.
const keysDeleteObjects = 5000

// Size is what r adds to a Put's request, as KeysPutBytes counts it: its
// strings, its wrapped keyset in base64, and the JSON around them.
func (r KeysetRow) Size() int {
	return len(r.Object) + len(r.EventType) + len(r.Kind) + len(r.SubjectField) + len(r.Subject) + (len(r.Wrapped)+2)/3*4 + 200
}

func (r KeysetRow) validate() error {
	if r.Object == "" || r.EventType == "" || (r.Kind != kindAEAD && r.Kind != kindDeterministic) || len(r.Wrapped) == 0 || (r.SubjectField == "") != (r.Subject == "") {
		return fmt.Errorf("bigquery: keys table: incomplete row for %q", r.Object)
	}
	return nil
}

// Put adds the rows whose objects the table does not hold (a retried or
// repeated put changes nothing; of rows with the same object in one call
// the first is put) and returns how many it added. Each job inserts up
// to KeysPutRows rows or KeysPutBytes; a failed job leaves the rows of the
// jobs before it in the table. Every row is checked before any job runs.
func (k *KeysTable) Put(ctx context.Context, rows []KeysetRow) (int64, error) {
	seen := make(map[string]struct{}, len(rows))
	uniq := make([]KeysetRow, 0, len(rows))
	for _, r := range rows {
		if err := r.validate(); err != nil {
			return 0, err
		}
		if _, ok := seen[r.Object]; !ok {
			seen[r.Object] = struct{}{}
			uniq = append(uniq, r)
		}
	}
	var put int64
	for len(uniq) > 0 {
		n, size := 0, 0
		for n < len(uniq) && n < KeysPutRows && (n == 0 || size+uniq[n].Size() <= KeysPutBytes) {
			size += uniq[n].Size()
			n++
		}
		added, err := k.insert(ctx, uniq[:n])
		put += added
		if err != nil {
			return put, fmt.Errorf("bigquery: keys table: put %d rows from %s: %w", n, uniq[0].Object, err)
		}
		uniq = uniq[n:]
	}
	return put, nil
}

// insert is one INSERT job of rows. The rows travel as one array
// parameter per column, zipped by an array of offsets: an array of
// STRUCTs would read better, but bigquerytest takes arrays of scalars
// only, and the statement is the same on both. Array elements cannot be
// NULL, so an empty subject is NULLIF'd.
func (k *KeysTable) insert(ctx context.Context, rows []KeysetRow) (int64, error) {
	var (
		offsets                                        = make([]int64, len(rows))
		objects, types, kinds, subjectFields, subjects = make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
		wrapped                                        = make([][]byte, len(rows))
		created                                        = make([]time.Time, len(rows))
	)
	for i, r := range rows {
		offsets[i] = int64(i)
		objects[i], types[i], kinds[i], subjectFields[i], subjects[i] = r.Object, r.EventType, r.Kind, r.SubjectField, r.Subject
		wrapped[i], created[i] = r.Wrapped, r.CreatedAt.UTC()
	}
	sql := "INSERT INTO `" + k.table + "` (object, event_type, kind, subject_field, subject, wrapped_keyset, created_at)\n" +
		"SELECT object, event_type, kind, subject_field, subject, wrapped_keyset, created_at FROM (\n" +
		"  SELECT p.objects[SAFE_OFFSET(i)] AS object, p.event_types[SAFE_OFFSET(i)] AS event_type, p.kinds[SAFE_OFFSET(i)] AS kind,\n" +
		"    NULLIF(p.subject_fields[SAFE_OFFSET(i)], '') AS subject_field, NULLIF(p.subjects[SAFE_OFFSET(i)], '') AS subject,\n" +
		"    p.wrapped[SAFE_OFFSET(i)] AS wrapped_keyset, p.created[SAFE_OFFSET(i)] AS created_at\n" +
		"  FROM (SELECT @objects AS objects, @event_types AS event_types, @kinds AS kinds, @subject_fields AS subject_fields,\n" +
		"    @subjects AS subjects, @wrapped AS wrapped, @created AS created) AS p, UNNEST(@offsets) AS i\n" +
		") AS r\n" +
		"WHERE NOT EXISTS (SELECT 1 FROM `" + k.table + "` AS k WHERE k.object = r.object)"
	return k.dml(ctx, sql,
		bigquery.QueryParameter{Name: "offsets", Value: offsets},
		bigquery.QueryParameter{Name: "objects", Value: objects},
		bigquery.QueryParameter{Name: "event_types", Value: types},
		bigquery.QueryParameter{Name: "kinds", Value: kinds},
		bigquery.QueryParameter{Name: "subject_fields", Value: subjectFields},
		bigquery.QueryParameter{Name: "subjects", Value: subjects},
		bigquery.QueryParameter{Name: "wrapped", Value: wrapped},
		bigquery.QueryParameter{Name: "created", Value: created})
}

// Objects returns the object of every row: one query job, reading one
// column.
func (k *KeysTable) Objects(ctx context.Context) ([]string, error) {
	it, err := k.client.Query("SELECT object FROM `" + k.table + "`").Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("bigquery: keys table: read objects: %w", err)
	}
	out := make([]string, 0, it.TotalRows)
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bigquery: keys table: read objects: %w", err)
		}
		if len(row) != 1 {
			return nil, fmt.Errorf("bigquery: keys table: read objects: %d columns", len(row))
		}
		o, ok := row[0].(string)
		if !ok {
			return nil, fmt.Errorf("bigquery: keys table: read objects: an object of type %T", row[0])
		}
		out = append(out, o)
	}
}

// Delete deletes the rows of these objects and returns how many it
// deleted: one job per 5,000 objects.
func (k *KeysTable) Delete(ctx context.Context, objects []string) (int64, error) {
	var deleted int64
	for len(objects) > 0 {
		n := min(len(objects), keysDeleteObjects)
		d, err := k.dml(ctx, "DELETE FROM `"+k.table+"` WHERE object IN UNNEST(@objects)",
			bigquery.QueryParameter{Name: "objects", Value: objects[:n]})
		deleted += d
		if err != nil {
			return deleted, fmt.Errorf("bigquery: keys table: delete %d rows: %w", n, err)
		}
		objects = objects[n:]
	}
	return deleted, nil
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
