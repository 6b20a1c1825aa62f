package bigquerytest_test

import (
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"
)

func TestDatasets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	err := e.ds.Create(t.Context(), nil)
	if ae := apiError(t, err); ae.Code != http.StatusConflict || ae.Errors[0].Reason != "duplicate" {
		t.Errorf("second create: %v, want 409 duplicate", err)
	}
	md, err := e.ds.Metadata(t.Context())
	if err != nil || md.Location != "US" || md.ETag == "" || md.FullID != "proj:ds" {
		t.Errorf("metadata = %+v, %v", md, err)
	}
	_, err = e.bq.Dataset("nope").Metadata(t.Context())
	if ae := apiError(t, err); ae.Code != http.StatusNotFound || ae.Errors[0].Reason != "notFound" {
		t.Errorf("missing dataset: %v, want 404 notFound", err)
	}
	if err := e.bq.Dataset("bad-name").Create(t.Context(), nil); apiError(t, err).Code != http.StatusBadRequest {
		t.Errorf("invalid dataset id: %v, want 400", err)
	}
}

func TestTableCreateAndGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tb := e.ds.Table("events")
	err := tb.Create(t.Context(), &bigquery.TableMetadata{
		Description: "all events",
		Schema: bigquery.Schema{
			{Name: "id", Type: bigquery.StringFieldType, Required: true, Description: "event id"},
			{Name: "at", Type: bigquery.TimestampFieldType, Required: true},
			{Name: "attrs", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{{Name: "k", Type: bigquery.StringFieldType}}},
		},
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: "at", Expiration: 48 * time.Hour},
		Clustering:       &bigquery.Clustering{Fields: []string{"id"}},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	md, err := tb.Metadata(t.Context())
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if md.Description != "all events" || md.Type != bigquery.RegularTable || md.ETag == "" || md.CreationTime.IsZero() ||
		md.TimePartitioning.Field != "at" || md.TimePartitioning.Expiration != 48*time.Hour ||
		!slices.Equal(md.Clustering.Fields, []string{"id"}) || len(md.Schema) != 3 ||
		md.Schema[0].Description != "event id" || !md.Schema[0].Required || md.Schema[2].Schema[0].Name != "k" {
		t.Errorf("metadata = %+v", md)
	}

	err = tb.Create(t.Context(), &bigquery.TableMetadata{Schema: bigquery.Schema{{Name: "x", Type: bigquery.StringFieldType}}})
	if ae := apiError(t, err); ae.Code != http.StatusConflict || ae.Errors[0].Reason != "duplicate" {
		t.Errorf("second create: %v, want 409 duplicate", err)
	}
	_, err = e.ds.Table("nope").Metadata(t.Context())
	if ae := apiError(t, err); ae.Code != http.StatusNotFound || ae.Errors[0].Reason != "notFound" {
		t.Errorf("missing table: %v, want 404 notFound", err)
	}

	view := e.ds.Table("v")
	if err := view.Create(t.Context(), &bigquery.TableMetadata{ViewQuery: "SELECT id FROM ds.events"}); err != nil {
		t.Fatalf("create view: %v", err)
	}
	if vm, err := view.Metadata(t.Context()); err != nil || vm.Type != bigquery.ViewTable || vm.ViewQuery != "SELECT id FROM ds.events" {
		t.Errorf("view metadata = %+v, %v", vm, err)
	}

	if err := tb.Delete(t.Context()); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := tb.Delete(t.Context()); apiError(t, err).Code != http.StatusNotFound {
		t.Errorf("second delete: %v, want 404", err)
	}
}

func TestTableCreateInvalid(t *testing.T) {
	t.Parallel()
	str := func(name string) *bigquery.FieldSchema {
		return &bigquery.FieldSchema{Name: name, Type: bigquery.StringFieldType}
	}
	ts := &bigquery.FieldSchema{Name: "at", Type: bigquery.TimestampFieldType}
	tests := []struct {
		name string
		md   bigquery.TableMetadata
		want string
	}{
		{"bad column name", bigquery.TableMetadata{Schema: bigquery.Schema{str("has-dash")}}, "has-dash"},
		{"reserved prefix", bigquery.TableMetadata{Schema: bigquery.Schema{str("_PARTITIONTIME")}}, "_PARTITIONTIME"},
		{"duplicate column", bigquery.TableMetadata{Schema: bigquery.Schema{str("a"), str("A")}}, "A"},
		{"unknown type", bigquery.TableMetadata{Schema: bigquery.Schema{{Name: "a", Type: "VARCHAR"}}}, "VARCHAR"},
		{"empty record", bigquery.TableMetadata{Schema: bigquery.Schema{{Name: "r", Type: bigquery.RecordFieldType}}}, "r"},
		{"partition field missing", bigquery.TableMetadata{Schema: bigquery.Schema{ts},
			TimePartitioning: &bigquery.TimePartitioning{Field: "when"}}, "when"},
		{"partition field not a time", bigquery.TableMetadata{Schema: bigquery.Schema{ts, str("s")},
			TimePartitioning: &bigquery.TimePartitioning{Field: "s"}}, "STRING"},
		{"too many clustering fields", bigquery.TableMetadata{Schema: bigquery.Schema{str("a"), str("b"), str("c"), str("d"), str("e")},
			Clustering: &bigquery.Clustering{Fields: []string{"a", "b", "c", "d", "e"}}}, "4"},
		{"clustering field missing", bigquery.TableMetadata{Schema: bigquery.Schema{str("a")},
			Clustering: &bigquery.Clustering{Fields: []string{"zz"}}}, "zz"},
		{"clustering on repeated", bigquery.TableMetadata{Schema: bigquery.Schema{{Name: "l", Type: bigquery.StringFieldType, Repeated: true}},
			Clustering: &bigquery.Clustering{Fields: []string{"l"}}}, "l"},
		{"clustering on record", bigquery.TableMetadata{Schema: bigquery.Schema{{Name: "r", Type: bigquery.RecordFieldType, Schema: bigquery.Schema{str("a")}}},
			Clustering: &bigquery.Clustering{Fields: []string{"r"}}}, "RECORD"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := e.ds.Table("t_"+strings.ReplaceAll(tt.name, " ", "_")).Create(t.Context(), &tt.md)
			ae := apiError(t, err)
			if ae.Code != http.StatusBadRequest || ae.Errors[0].Reason != "invalid" || !strings.Contains(ae.Message, tt.want) {
				t.Errorf("create: %v, want 400 invalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestTableSchemaUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(bigquery.Schema) bigquery.Schema
		want   string // "" for success, else a substring of the 400 message
	}{
		{"add nullable column", func(s bigquery.Schema) bigquery.Schema {
			return append(s, &bigquery.FieldSchema{Name: "note", Type: bigquery.StringFieldType})
		}, ""},
		{"add repeated column", func(s bigquery.Schema) bigquery.Schema {
			return append(s, &bigquery.FieldSchema{Name: "more", Type: bigquery.IntegerFieldType, Repeated: true})
		}, ""},
		{"add nested column", func(s bigquery.Schema) bigquery.Schema {
			s[3].Schema = append(s[3].Schema, &bigquery.FieldSchema{Name: "b", Type: bigquery.IntegerFieldType})
			return s
		}, ""},
		{"relax required", func(s bigquery.Schema) bigquery.Schema { s[0].Required = false; return s }, ""},
		{"add required column", func(s bigquery.Schema) bigquery.Schema {
			return append(s, &bigquery.FieldSchema{Name: "must", Type: bigquery.StringFieldType, Required: true})
		}, "must"},
		{"add required nested column", func(s bigquery.Schema) bigquery.Schema {
			s[3].Schema = append(s[3].Schema, &bigquery.FieldSchema{Name: "must", Type: bigquery.StringFieldType, Required: true})
			return s
		}, "rec.must"},
		{"drop column", func(s bigquery.Schema) bigquery.Schema { return s[:3] }, "rec"},
		{"drop nested column", func(s bigquery.Schema) bigquery.Schema {
			s[3].Schema = bigquery.Schema{{Name: "z", Type: bigquery.StringFieldType}}
			return s
		}, "rec.a"},
		{"change type", func(s bigquery.Schema) bigquery.Schema { s[1].Type = bigquery.StringFieldType; return s }, "n"},
		{"tighten to required", func(s bigquery.Schema) bigquery.Schema { s[1].Required = true; return s }, "n"},
		{"repeated to nullable", func(s bigquery.Schema) bigquery.Schema { s[2].Repeated = false; return s }, "tags"},
		{"nullable to repeated", func(s bigquery.Schema) bigquery.Schema { s[1].Repeated = true; return s }, "n"},
	}
	e := newEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := e.createTable(t, "t"+string(rune('a'+i)), sampleSchema())
			md, err := tb.Metadata(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got, err := tb.Update(t.Context(), bigquery.TableMetadataToUpdate{Schema: tt.change(sampleSchema())}, md.ETag)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("update: %v", err)
				}
				if got.ETag == md.ETag {
					t.Error("etag unchanged by update")
				}
				return
			}
			ae := apiError(t, err)
			if ae.Code != http.StatusBadRequest || ae.Errors[0].Reason != "invalid" || !strings.Contains(ae.Message, tt.want) {
				t.Errorf("update: %v, want 400 invalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestTableUpdateStaleETag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tb := e.createTable(t, "t", bigquery.Schema{{Name: "id", Type: bigquery.StringFieldType}})
	md, err := tb.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Update(t.Context(), bigquery.TableMetadataToUpdate{Description: "first"}, md.ETag); err != nil {
		t.Fatalf("update with fresh etag: %v", err)
	}
	_, err = tb.Update(t.Context(), bigquery.TableMetadataToUpdate{Description: "second"}, md.ETag)
	if ae := apiError(t, err); ae.Code != http.StatusPreconditionFailed || ae.Errors[0].Reason != "conditionNotMet" {
		t.Errorf("update with stale etag: %v, want 412 conditionNotMet", err)
	}
	got, err := tb.Metadata(t.Context())
	if err != nil || got.Description != "first" {
		t.Errorf("description = %q, %v, want first", got.Description, err)
	}
}

func TestTableUpdateLayout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tb := e.ds.Table("t")
	if err := tb.Create(t.Context(), &bigquery.TableMetadata{
		Schema: bigquery.Schema{
			{Name: "at", Type: bigquery.TimestampFieldType},
			{Name: "a", Type: bigquery.StringFieldType},
			{Name: "b", Type: bigquery.StringFieldType},
		},
		TimePartitioning: &bigquery.TimePartitioning{Field: "at"},
		Labels:           map[string]string{"keep": "1", "drop": "1"},
	}); err != nil {
		t.Fatal(err)
	}
	var u bigquery.TableMetadataToUpdate
	u.Clustering = &bigquery.Clustering{Fields: []string{"b", "a"}}
	u.TimePartitioning = &bigquery.TimePartitioning{Field: "at", Expiration: time.Hour}
	u.DeleteLabel("drop")
	u.SetLabel("new", "2")
	md, err := tb.Update(t.Context(), u, "")
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if !slices.Equal(md.Clustering.Fields, []string{"b", "a"}) || md.TimePartitioning.Expiration != time.Hour ||
		len(md.Labels) != 2 || md.Labels["keep"] != "1" || md.Labels["new"] != "2" || len(md.Schema) != 3 {
		t.Errorf("after update: %+v", md)
	}
	_, err = tb.Update(t.Context(), bigquery.TableMetadataToUpdate{TimePartitioning: &bigquery.TimePartitioning{Field: "a"}}, "")
	if apiError(t, err).Code != http.StatusBadRequest {
		t.Errorf("changing the partition field: %v, want 400", err)
	}
}

// TestTableRead reads appended rows back through tabledata.list.
func TestTableRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tb := e.createTable(t, "all", allTypesSchema)
	md := messageDescriptor(t, allTypesProto)
	w := e.mustWriter(t, "all", md)
	if _, err := w.append(t, encode(t, md,
		`{"s":"a","i":"-7","f":1.5,"b":true,"by":"AQI=","ts":"1700000000123456","d":19000,"n":"12.34",
		  "j":"{}","iv":"1-2 3 4:5:6","rec":{"a":"x"},"tags":["t1"],"recs":[{"x":"1"}],"enum_s":"RED"}`,
		`{"s":"b"}`)); err != nil {
		t.Fatalf("append: %v", err)
	}
	it := tb.Read(t.Context())
	it.PageInfo().MaxSize = 1
	var got [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, row)
	}
	if len(got) != 2 || it.TotalRows != 2 {
		t.Fatalf("read %d rows (total %d), want 2", len(got), it.TotalRows)
	}
	first := got[0]
	if first[0] != "a" || first[1] != int64(-7) || first[2] != 1.5 || first[3] != true ||
		!first[5].(time.Time).Equal(time.UnixMicro(1700000000123456)) ||
		first[6] != (civil.Date{Year: 2022, Month: time.January, Day: 8}) ||
		first[7].(*big.Rat).RatString() != "617/50" ||
		first[11].([]bigquery.Value)[0] != "x" || first[12].([]bigquery.Value)[0] != "t1" || first[14] != "RED" {
		t.Errorf("first row = %#v", first)
	}
	if got[1][0] != "b" || got[1][1] != nil || len(got[1][12].([]bigquery.Value)) != 0 {
		t.Errorf("second row = %#v", got[1])
	}
}
