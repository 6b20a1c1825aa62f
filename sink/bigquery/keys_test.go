package bigquery_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"

	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

// newKeysTable is a keys table on a fake BigQuery (its JobsRequested counts
// the jobs the table asks for).
func newKeysTable(t *testing.T) (*bigquery.KeysTable, *bigquerytest.Server) {
	t.Helper()
	ctx := t.Context()
	srv, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := bq.NewClient(ctx, project, srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Dataset("hem_keys").Create(ctx, &bq.DatasetMetadata{Location: "US"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Dataset("hem_keys").Table("field_keys").Create(ctx, &bq.TableMetadata{Schema: bigquery.KeysSchema()}); err != nil {
		t.Fatal(err)
	}
	kt, err := bigquery.NewKeysTable(c, project+".hem_keys.field_keys")
	if err != nil {
		t.Fatal(err)
	}
	return kt, srv
}

func keyObjects(t *testing.T, srv *bigquerytest.Server) []string {
	t.Helper()
	got, err := srv.Rows(project, "hem_keys", "field_keys")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range got {
		out = append(out, r["object"].(string))
	}
	slices.Sort(out)
	return out
}

// TestKeysTable: rows put once per object (a repeated put adds nothing),
// and a data subject's rows deleted with a count, other rows kept.
func TestKeysTable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	kt, srv := newKeysTable(t)
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rows := []bigquery.KeysetRow{
		{Object: "type/shop.a.v1.A/daead", EventType: "shop.a.v1.A", Kind: "daead", Wrapped: []byte{1}, CreatedAt: at},
		{Object: "subject/member_id/6d2d31/shop.a.v1.A/aead", EventType: "shop.a.v1.A", Kind: "aead", SubjectField: "member_id", Subject: "m-1", Wrapped: []byte{2}, CreatedAt: at},
		{Object: "subject/member_id/6d2d31/shop.b.v1.B/aead", EventType: "shop.b.v1.B", Kind: "aead", SubjectField: "member_id", Subject: "m-1", Wrapped: []byte{3}, CreatedAt: at},
		{Object: "subject/member_id/6d2d32/shop.a.v1.A/aead", EventType: "shop.a.v1.A", Kind: "aead", SubjectField: "member_id", Subject: "m-2", Wrapped: []byte{4}, CreatedAt: at},
	}
	for _, r := range append(rows, rows[1]) {
		if _, err := kt.Put(ctx, []bigquery.KeysetRow{r}); err != nil {
			t.Fatal(err)
		}
	}
	if got := keyObjects(t, srv); len(got) != 4 {
		t.Fatalf("rows after five puts of four keysets: %v", got)
	}
	got, err := srv.Rows(project, "hem_keys", "field_keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r["object"] == rows[0].Object && (r["subject_field"] != nil || r["subject"] != nil || string(r["wrapped_keyset"].([]byte)) != "\x01" || !r["created_at"].(time.Time).Equal(at)) {
			t.Errorf("an event type's row: %v, want NULL subject and the keyset", r)
		}
	}
	n, err := kt.DeleteSubject(ctx, "member_id", "m-1")
	if err != nil || n != 2 {
		t.Fatalf("DeleteSubject: %d %v, want 2 rows", n, err)
	}
	if got, want := keyObjects(t, srv), []string{"subject/member_id/6d2d32/shop.a.v1.A/aead", "type/shop.a.v1.A/daead"}; !slices.Equal(got, want) {
		t.Errorf("rows left: %v, want %v", got, want)
	}
	if n, err := kt.DeleteSubject(ctx, "member_id", "m-1"); err != nil || n != 0 {
		t.Errorf("second DeleteSubject: %d %v", n, err)
	}
	if _, err := kt.Put(ctx, []bigquery.KeysetRow{{Object: "x", EventType: "a.B", Kind: "aead", SubjectField: "member_id", Wrapped: []byte{1}}}); err == nil {
		t.Error("a row with a subject field and no subject was put")
	}
}

// TestKeysTableBatches: 2,500 rows, 500 of them held already and one
// repeated, go in with three INSERT jobs and add exactly the 2,000
// missing; Objects reads them back in one job; Delete of 1,200 objects
// (one not in the table) is one job.
func TestKeysTableBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	kt, srv := newKeysTable(t)
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rows := make([]bigquery.KeysetRow, 2500)
	for i := range rows {
		subject := fmt.Sprintf("m-%d", i)
		rows[i] = bigquery.KeysetRow{Object: fmt.Sprintf("subject/member_id/%x/shop.a.v1.A/aead", subject), EventType: "shop.a.v1.A", Kind: "aead",
			SubjectField: "member_id", Subject: subject, Wrapped: make([]byte, 200), CreatedAt: at}
	}
	rows[7].SubjectField, rows[7].Subject, rows[7].Object = "", "", "type/shop.a.v1.A/aead"
	if n, err := kt.Put(ctx, rows[:500]); err != nil || n != 500 {
		t.Fatalf("first put: %d %v", n, err)
	}
	before := srv.JobsRequested()
	n, err := kt.Put(ctx, append(rows, rows[1000]))
	if err != nil || n != 2000 {
		t.Fatalf("put of 2,501 rows, 500 held: %d added, %v; want 2,000", n, err)
	}
	if j := srv.JobsRequested() - before; j != 3 {
		t.Errorf("put of 2,500 distinct rows took %d jobs, want 3 (1,000 rows a job)", j)
	}
	before = srv.JobsRequested()
	objs, err := kt.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(objs)
	if want := keyObjects(t, srv); len(objs) != 2500 || !slices.Equal(objs, want) {
		t.Fatalf("Objects: %d objects, want the table's 2,500", len(objs))
	}
	if j := srv.JobsRequested() - before; j != 1 {
		t.Errorf("Objects took %d jobs, want 1", j)
	}
	before = srv.JobsRequested()
	del := append(objs[:1199:1199], "subject/member_id/00/shop.a.v1.A/aead")
	if d, err := kt.Delete(ctx, del); err != nil || d != 1199 {
		t.Fatalf("Delete: %d %v, want 1,199 rows", d, err)
	}
	if j := srv.JobsRequested() - before; j != 1 {
		t.Errorf("Delete took %d jobs, want 1", j)
	}
	if got := keyObjects(t, srv); !slices.Equal(got, objs[1199:]) {
		t.Errorf("%d rows left, want %d", len(got), len(objs)-1199)
	}
}
