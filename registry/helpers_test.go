package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/localgcs"
)

const testBucket = "hem-registry-test"

// gcs is an in-process GCS server on a folder.
type gcs struct {
	dir string
	srv *localgcs.Server
}

func startGCS(t testing.TB, dir string) *gcs {
	t.Helper()
	srv, err := localgcs.Start(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return &gcs{dir: dir, srv: srv}
}

// bucket returns a handle through a fresh client, creating the bucket if
// needed.
func (g *gcs) bucket(t testing.TB) *storage.BucketHandle {
	t.Helper()
	ctx := context.Background()
	c, err := g.srv.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := localgcs.EnsureBucket(ctx, c, testBucket); err != nil {
		t.Fatal(err)
	}
	return c.Bucket(testBucket)
}

func newRegistry(t testing.TB, g *gcs, opts ...registry.Option) *registry.Registry {
	t.Helper()
	r, err := registry.New(context.Background(), g.bucket(t), "registry", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ordersV1 is a small contract; fields and the leading comment vary per
// test.
type ordersV1 struct {
	pkg     string // default acme.orders.v1
	comment string
	fields  string
	options string // more event options, e.g. partition_expiration_days: 90
}

func (o ordersV1) source() string {
	pkg := o.pkg
	if pkg == "" {
		pkg = "acme.orders.v1"
	}
	comment := o.comment
	if comment == "" {
		comment = "OrderPlaced: a customer placed an order."
	}
	fields := o.fields
	if fields == "" {
		fields = baseFields
	}
	return fmt.Sprintf(`syntax = "proto3";

package %s;

import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";

// %s
message OrderPlaced {
  option (hem.options.v1.event) = {entity_key_field: "order_id" %s};
%s
}
`, pkg, comment, o.options, fields)
}

const baseFields = `
  // Order id.
  string order_id = 1;
  // Units ordered.
  int32 quantity = 2;
  // Coupon code.
  string coupon = 3;
  // When it happened.
  google.protobuf.Timestamp placed_at = 4;
`

func (o ordersV1) subject() string {
	pkg := o.pkg
	if pkg == "" {
		pkg = "acme.orders.v1"
	}
	return pkg + ".OrderPlaced"
}

func (o ordersV1) schema(t testing.TB) *contract.Schema {
	t.Helper()
	path := strings.ReplaceAll(o.subject()[:strings.LastIndex(o.subject(), ".")], ".", "/") + "/events.proto"
	src, err := contract.CompileSources(context.Background(), map[string]string{path: o.source()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema(o.subject())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func register(t testing.TB, r *registry.Registry, s ...*contract.Schema) []registry.Result {
	t.Helper()
	res, err := r.Register(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func rules(vs []registry.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Rule)
	}
	return out
}
