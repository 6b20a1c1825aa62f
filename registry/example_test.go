package registry_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/registry/localgcs"
)

const exampleContract = `syntax = "proto3";

package acme.orders.v1;

import "hem/options/v1/options.proto";

// OrderPlaced: a customer placed an order.
message OrderPlaced {
  option (hem.options.v1.event) = {entity_key_field: "order_id"};

  // Order id.
  string order_id = 1;
  // Units ordered.
  int32 quantity = 2;
}
`

// Register admits versions: the first push stores v1, the same push again
// gives its id back, an added field is v2, and a retyped field is rejected
// with the rule it breaks.
func ExampleRegistry_Register() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hem-registry-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// An in-process GCS server on a folder; in production, a bucket.
	gcs, err := localgcs.Start(dir, "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer gcs.Stop()
	client, err := gcs.NewClient(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if err := localgcs.EnsureBucket(ctx, client, "schemas"); err != nil {
		log.Fatal(err)
	}
	reg, err := registry.New(ctx, client.Bucket("schemas"), "registry/")
	if err != nil {
		log.Fatal(err)
	}

	push := func(source string) {
		src, err := contract.CompileSources(ctx, map[string]string{"acme/orders/v1/events.proto": source})
		if err != nil {
			log.Fatal(err)
		}
		s, err := src.Schema("acme.orders.v1.OrderPlaced")
		if err != nil {
			log.Fatal(err)
		}
		results, err := reg.Register(ctx, []*contract.Schema{s})
		if err != nil {
			log.Fatal(err)
		}
		res := results[0]
		if res.Outcome == registry.OutcomeRejected {
			fmt.Println(res.Subject, res.Outcome, res.Violations[0].Rule, res.Violations[0].Path)
			return
		}
		fmt.Println(res.Subject, res.Outcome, "version", res.Schema.Version, "id", res.Schema.ID)
	}
	v2 := strings.Replace(exampleContract, "int32 quantity = 2;", "int32 quantity = 2;\n  // A note.\n  optional string note = 3;", 1)
	push(exampleContract)
	push(exampleContract)
	push(v2)
	push(strings.Replace(v2, "int32 quantity", "int64 quantity", 1))
	// Output:
	// acme.orders.v1.OrderPlaced NEW version 1 id 1
	// acme.orders.v1.OrderPlaced UNCHANGED version 1 id 1
	// acme.orders.v1.OrderPlaced NEW version 2 id 2
	// acme.orders.v1.OrderPlaced REJECTED EV-W06 acme.orders.v1.OrderPlaced.quantity
}
