package bigquery_test

import (
	"slices"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"

	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
)

// TestKeysTable: rows put once per object (a repeated put adds nothing),
// and a data subject's rows deleted with a count, other rows kept.
func TestKeysTable(t *testing.T) {
	t.Parallel()
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
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	rows := []bigquery.KeysetRow{
		{Object: "type/shop.a.v1.A/daead", EventType: "shop.a.v1.A", Kind: "daead", Wrapped: []byte{1}, CreatedAt: at},
		{Object: "subject/member_id/6d2d31/shop.a.v1.A/aead", EventType: "shop.a.v1.A", Kind: "aead", SubjectField: "member_id", Subject: "m-1", Wrapped: []byte{2}, CreatedAt: at},
		{Object: "subject/member_id/6d2d31/shop.b.v1.B/aead", EventType: "shop.b.v1.B", Kind: "aead", SubjectField: "member_id", Subject: "m-1", Wrapped: []byte{3}, CreatedAt: at},
		{Object: "subject/member_id/6d2d32/shop.a.v1.A/aead", EventType: "shop.a.v1.A", Kind: "aead", SubjectField: "member_id", Subject: "m-2", Wrapped: []byte{4}, CreatedAt: at},
	}
	for _, r := range append(rows, rows[1]) {
		if err := kt.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	objects := func() []string {
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
	if got := objects(); len(got) != 4 {
		t.Fatalf("rows after five puts of four keysets: %v", got)
	}
	n, err := kt.DeleteSubject(ctx, "member_id", "m-1")
	if err != nil || n != 2 {
		t.Fatalf("DeleteSubject: %d %v, want 2 rows", n, err)
	}
	if got, want := objects(), []string{"subject/member_id/6d2d32/shop.a.v1.A/aead", "type/shop.a.v1.A/daead"}; !slices.Equal(got, want) {
		t.Errorf("rows left: %v, want %v", got, want)
	}
	if n, err := kt.DeleteSubject(ctx, "member_id", "m-1"); err != nil || n != 0 {
		t.Errorf("second DeleteSubject: %d %v", n, err)
	}
	if err := kt.Put(ctx, bigquery.KeysetRow{Object: "x", EventType: "a.B", Kind: "aead", SubjectField: "member_id", Wrapped: []byte{1}}); err == nil {
		t.Error("a row with a subject field and no subject was put")
	}
}
