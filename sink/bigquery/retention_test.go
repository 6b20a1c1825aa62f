package bigquery_test

import (
	"context"
	"testing"
	"time"

	bq "cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/bigquery"
)

// retentionVersion is a contract keeping days of partitions.
func retentionVersion(t *testing.T, days string, extra string) *contract.Schema {
	t.Helper()
	src, err := contract.CompileSources(t.Context(), map[string]string{"acme/keep/v1/keep.proto": `syntax = "proto3";
package acme.keep.v1;
import "hem/options/v1/options.proto";
message Kept {
  option (hem.options.v1.event) = {partition_expiration_days: ` + days + `};
  string id = 1;
` + extra + `}
`})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("acme.keep.v1.Kept")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A version that changes the retention changes the table's partition
// expiration, with or without new columns.
func TestMigrateAppliesTheRetention(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, srv := newSink(t, bigquery.Config{})
	client, err := bq.NewClient(ctx, project, option.WithEndpoint(srv.RESTEndpoint()), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	expiration := func() time.Duration {
		t.Helper()
		meta, err := client.Dataset(dataset).Table("acme_keep_v1_kept").Metadata(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return meta.TimePartitioning.Expiration
	}
	for _, step := range []struct {
		days, extra string
		want        time.Duration
	}{
		{"365", "", 365 * 24 * time.Hour},
		{"90", "", 90 * 24 * time.Hour},                       // shortened, acknowledged at admission
		{"400", "  string note = 2;\n", 400 * 24 * time.Hour}, // with a new column
		{"0", "  string note = 2;\n", 0},                      // kept for ever
	} {
		if err := s.Migrate(ctx, retentionVersion(t, step.days, step.extra)); err != nil {
			t.Fatalf("%s days: %v", step.days, err)
		}
		if got := expiration(); got != step.want {
			t.Fatalf("after a version keeping %s days the table expires partitions after %v, want %v", step.days, got, step.want)
		}
	}
}
