package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/source/ledger"
)

// A loader claims an object, checkpoints as Pub/Sub confirms its records
// and finishes; a second loader is refused while the first holds the lease,
// and takes over with the checkpoint once it has ended. The first one's next
// write is refused with ErrLost.
func ExampleLedger_Claim() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hem-ledger-example-")
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
	if err := localgcs.EnsureBucket(ctx, client, "hem-ledger"); err != nil {
		log.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := ledger.WithClock(func() time.Time { return now })
	a := ledger.New(client.Bucket("hem-ledger"), "ledger/", clock)
	b := ledger.New(client.Bucket("hem-ledger"), "ledger/", clock)

	obj := &sourcev1.LedgerEntry{Source: "product-catalogue", Uri: "gs://hem-landing/catalogue/2026-12-07.csv.gz", Generation: 1765098000123456}
	e, claimed, err := a.Claim(ctx, obj, "loader-a", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("a claimed:", claimed, e.GetStatus(), "attempt", e.GetAttempts())
	fmt.Println("in", a.Location(e))

	e.Checkpoint, e.Records, e.Accepted = 1000, 1000, 1000
	if err := a.Update(ctx, e, time.Minute); err != nil { // checkpoint and renew the lease
		log.Fatal(err)
	}
	_, claimed, _ = b.Claim(ctx, obj, "loader-b", time.Minute)
	fmt.Println("b claimed while a's lease runs:", claimed)

	now = now.Add(2 * time.Minute) // loader-a stalls
	eb, claimed, _ := b.Claim(ctx, obj, "loader-b", time.Minute)
	fmt.Println("b claimed after the lease:", claimed, "attempt", eb.GetAttempts(), "resumes after", eb.GetCheckpoint())

	e.Checkpoint = 2000
	fmt.Println("a's next write lost:", errors.Is(a.Update(ctx, e, time.Minute), ledger.ErrLost))

	eb.Status, eb.Checkpoint, eb.Records, eb.Accepted = sourcev1.Status_STATUS_LOADED, 5000, 5000, 5000
	if err := b.Update(ctx, eb, 0); err != nil {
		log.Fatal(err)
	}
	entries, err := a.List(ctx, "product-catalogue")
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.GetUri(), e.GetStatus(), e.GetAccepted(), "owner", e.GetOwner(), "attempts", e.GetAttempts())
	}
	// Output:
	// a claimed: true STATUS_LOADING attempt 1
	// in gs://hem-ledger/ledger/product-catalogue/43069cf8c75cbe7017acd8617164da26b098859b3df5719d0a4b46ed171fbdf5-1765098000123456.json
	// b claimed while a's lease runs: false
	// b claimed after the lease: true attempt 2 resumes after 1000
	// a's next write lost: true
	// gs://hem-landing/catalogue/2026-12-07.csv.gz STATUS_LOADED 5000 owner loader-b attempts 2
}
