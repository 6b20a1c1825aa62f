package ledger_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/source/ledger"
)

const lease = time.Minute

func object(uri string) *sourcev1.LedgerEntry {
	return &sourcev1.LedgerEntry{Source: "catalogue", Uri: uri, Generation: 1765098000123456, Size: 1234, Crc32C: "0a1b2c3d"}
}

func mustClaim(t *testing.T, l *ledger.Ledger, e *sourcev1.LedgerEntry, owner string) *sourcev1.LedgerEntry {
	t.Helper()
	got, claimed, err := l.Claim(t.Context(), e, owner, lease)
	if err != nil || !claimed {
		t.Fatalf("Claim(%s) by %s = claimed %v, %v; want claimed", e.GetUri(), owner, claimed, err)
	}
	return got
}

func TestFirstClaimCreatesALoadingEntryAndTheSecondIsRefused(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	clk := newClock()
	l := ledger.New(bucket, "ledger/", ledger.WithClock(clk.Now))
	ctx := t.Context()

	in := object("gs://hem-landing/catalogue/2026-12-07.csv.gz")
	got := mustClaim(t, l, in, "loader-a")
	want := &sourcev1.LedgerEntry{
		Source: in.Source, Uri: in.Uri, Generation: in.Generation, Size: in.Size, Crc32C: in.Crc32C,
		Status:     sourcev1.Status_STATUS_LOADING,
		Owner:      "loader-a",
		Attempts:   1,
		StartedAt:  timestampOf(clk.Now()),
		UpdatedAt:  timestampOf(clk.Now()),
		LeaseUntil: timestampOf(clk.Now().Add(lease)),
	}
	if !proto.Equal(want, got) {
		t.Errorf("claimed entry:\n%v\nwant:\n%v", got, want)
	}
	stored, err := l.Get(ctx, in.Source, in.Uri, in.Generation)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(want, stored) {
		t.Errorf("stored entry:\n%v\nwant:\n%v", stored, want)
	}

	// Another loader, another process: refused while the lease runs, even
	// a second before it ends.
	other := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now))
	clk.Advance(lease - time.Second)
	for _, l := range []*ledger.Ledger{l, other} {
		got, claimed, err := l.Claim(ctx, in, "loader-b", lease)
		if err != nil || claimed {
			t.Fatalf("second Claim = claimed %v, %v; want refused", claimed, err)
		}
		if got.GetOwner() != "loader-a" || got.GetAttempts() != 1 {
			t.Errorf("refused Claim returned owner %q attempts %d; want the holder's entry", got.GetOwner(), got.GetAttempts())
		}
	}
	// The owner itself does not claim twice (a notification delivered twice).
	if _, claimed, err := l.Claim(ctx, in, "loader-a", lease); err != nil || claimed {
		t.Errorf("the owner's second Claim = claimed %v, %v; want refused", claimed, err)
	}
}

// The object is <prefix><source>/<hex sha256(uri)>-<generation>.json and a
// human can read it.
func TestEntryIsReadableProtoJSONWhereTheDesignSays(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	l := ledger.New(bucket, "ledger")
	in := object("gs://hem-landing/catalogue/a.csv")
	mustClaim(t, l, in, "loader-a")

	sum := sha256.Sum256([]byte(in.Uri))
	name := "ledger/catalogue/" + hex.EncodeToString(sum[:]) + "-1765098000123456.json"
	if got := l.ObjectName(in.Source, in.Uri, in.Generation); got != name {
		t.Fatalf("ObjectName = %q; want %q", got, name)
	}
	if got := l.Location(in); got != "gs://"+testBucket+"/"+name {
		t.Errorf("Location = %q", got)
	}
	r, err := bucket.Object(name).NewReader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"status": "STATUS_LOADING"`) || !strings.Contains(string(b), `"owner": "loader-a"`) {
		t.Errorf("object text is not readable protojson:\n%s", b)
	}
	var e sourcev1.LedgerEntry
	if err := protojson.Unmarshal(b, &e); err != nil {
		t.Errorf("object is not protojson: %v", err)
	}
}

func TestDoneEntriesAreNeverClaimedAgain(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	for _, status := range []sourcev1.Status{
		sourcev1.Status_STATUS_LOADED,
		sourcev1.Status_STATUS_QUARANTINED,
		sourcev1.Status_STATUS_FAILED,
	} {
		t.Run(status.String(), func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			l := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now))
			e := mustClaim(t, l, object("gs://hem-landing/catalogue/"+status.String()), "loader-a")
			e.Status, e.Records, e.Accepted = status, 10, 10
			clk.Advance(time.Second)
			if err := l.Update(t.Context(), e, lease); err != nil {
				t.Fatal(err)
			}
			if !e.GetFinishedAt().AsTime().Equal(clk.Now()) {
				t.Errorf("finished_at = %v; want the time of the update that ended it", e.GetFinishedAt().AsTime())
			}
			// Long after: the lease has nothing to say about a done entry.
			clk.Advance(24 * time.Hour)
			for _, owner := range []string{"loader-a", "loader-b"} {
				got, claimed, err := l.Claim(t.Context(), object(e.Uri), owner, lease)
				if err != nil || claimed {
					t.Fatalf("Claim of a %s entry by %s = claimed %v, %v; want refused", status, owner, claimed, err)
				}
				if got.GetStatus() != status || got.GetRecords() != 10 {
					t.Errorf("refused Claim returned %v; want the done entry", got)
				}
			}
		})
	}
}

func TestTakeoverAfterTheLeaseEndsKeepsTheCheckpointAndTheLoserIsLost(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	clk := newClock()
	a := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now))
	b := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now))
	ctx := t.Context()
	in := object("gs://hem-landing/catalogue/big.csv")
	started := clk.Now()

	ea := mustClaim(t, a, in, "loader-a")
	clk.Advance(30 * time.Second)
	ea.Checkpoint, ea.Records, ea.Accepted, ea.Rejected = 500_000, 500_000, 499_990, 10
	ea.FirstEventId, ea.LastEventId = "first", "last-a"
	if err := a.Update(ctx, ea, lease); err != nil { // also renews the lease
		t.Fatal(err)
	}
	if !ea.GetLeaseUntil().AsTime().Equal(clk.Now().Add(lease)) {
		t.Errorf("lease_until after Update = %v; want now + lease", ea.GetLeaseUntil().AsTime())
	}
	// The renewed lease still runs a minute after the claim's would have ended.
	clk.Advance(lease - time.Second)
	if _, claimed, err := b.Claim(ctx, in, "loader-b", lease); err != nil || claimed {
		t.Fatalf("Claim under a renewed lease = claimed %v, %v; want refused", claimed, err)
	}

	// loader-a dies; its lease ends.
	clk.Advance(2 * time.Second)
	eb := mustClaim(t, b, in, "loader-b")
	if eb.GetAttempts() != 2 || eb.GetOwner() != "loader-b" {
		t.Errorf("takeover: attempts %d owner %q; want 2, loader-b", eb.GetAttempts(), eb.GetOwner())
	}
	if eb.GetCheckpoint() != 500_000 || eb.GetRecords() != 500_000 || eb.GetAccepted() != 499_990 || eb.GetRejected() != 10 ||
		eb.GetFirstEventId() != "first" || eb.GetLastEventId() != "last-a" {
		t.Errorf("takeover lost the progress: %v", eb)
	}
	if !eb.GetStartedAt().AsTime().Equal(started) {
		t.Errorf("takeover: started_at %v; want the first claim's %v", eb.GetStartedAt().AsTime(), started)
	}

	// loader-a was only slow: its next write must not undo loader-b's claim.
	ea.Checkpoint = 600_000
	err := a.Update(ctx, ea, lease)
	if !errors.Is(err, ledger.ErrLost) {
		t.Fatalf("Update by the owner that lost the entry = %v; want ErrLost", err)
	}
	// Nor through a Ledger that never claimed it (another process of loader-a).
	if err := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now)).Update(ctx, ea, lease); !errors.Is(err, ledger.ErrLost) {
		t.Fatalf("Update by loader-a through a fresh Ledger = %v; want ErrLost", err)
	}
	got, err := b.Get(ctx, in.Source, in.Uri, in.Generation)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetOwner() != "loader-b" || got.GetCheckpoint() != 500_000 {
		t.Errorf("after the loser's Update: owner %q checkpoint %d; want loader-b's 500000", got.GetOwner(), got.GetCheckpoint())
	}
	// The new owner goes on writing.
	eb.Checkpoint = 700_000
	if err := b.Update(ctx, eb, lease); err != nil {
		t.Fatalf("Update by the new owner: %v", err)
	}
}

// A lease that ended without a takeover is no loss: the owner's next write
// renews it.
func TestUpdateAfterTheLeaseEndedWithoutTakeoverRenews(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	clk := newClock()
	l := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now))
	e := mustClaim(t, l, object("gs://hem-landing/catalogue/slow.csv"), "loader-a")
	clk.Advance(2 * lease)
	e.Checkpoint = 10
	if err := l.Update(t.Context(), e, lease); err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := l.Claim(t.Context(), object(e.Uri), "loader-b", lease); err != nil || claimed {
		t.Errorf("Claim after the renewal = claimed %v, %v; want refused", claimed, err)
	}
}

func TestConcurrentClaimersExactlyOneWins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		takeover bool // the entry exists, LOADING, its lease ended
	}{{"create", false}, {"takeover", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := localgcs.Start(t.TempDir(), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Stop)
			clk := newClock()
			in := object("gs://hem-landing/catalogue/contended.csv")
			if tc.takeover {
				mustClaim(t, ledger.New(bucketOn(t, srv), "ledger", ledger.WithClock(clk.Now)), in, "dead")
				clk.Advance(2 * lease)
			}
			const claimers = 20
			shared := ledger.New(bucketOn(t, srv), "ledger", ledger.WithClock(clk.Now))
			ledgers := make([]*ledger.Ledger, claimers)
			for i := range ledgers {
				if i%2 == 0 {
					ledgers[i] = shared // goroutines of one process
				} else {
					ledgers[i] = ledger.New(bucketOn(t, srv), "ledger", ledger.WithClock(clk.Now)) // other processes
				}
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				winners []string
				errs    []error
			)
			start := make(chan struct{})
			for i, l := range ledgers {
				wg.Go(func() {
					owner := fmt.Sprintf("loader-%02d", i)
					<-start
					e, claimed, err := l.Claim(t.Context(), in, owner, lease)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
					}
					if claimed {
						winners = append(winners, owner)
						if e.GetOwner() != owner {
							errs = append(errs, fmt.Errorf("%s won with an entry owned by %q", owner, e.GetOwner()))
						}
					}
				})
			}
			close(start)
			wg.Wait()
			if len(errs) > 0 {
				t.Errorf("claimers got errors (a lost race is claimed=false, not an error): %v", errors.Join(errs...))
			}
			if len(winners) != 1 {
				t.Fatalf("winners = %v; want exactly one", winners)
			}
			got, err := shared.Get(t.Context(), in.Source, in.Uri, in.Generation)
			if err != nil {
				t.Fatal(err)
			}
			wantAttempts := int32(1)
			if tc.takeover {
				wantAttempts = 2
			}
			if got.GetOwner() != winners[0] || got.GetAttempts() != wantAttempts {
				t.Errorf("stored owner %q attempts %d; want the winner %q, %d", got.GetOwner(), got.GetAttempts(), winners[0], wantAttempts)
			}
		})
	}
}

func TestListSortsByStartAndFiltersBySource(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	clk := newClock()
	l := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now))
	ctx := t.Context()
	// Claimed in this order; the names' hashes order them otherwise.
	claims := []struct{ source, uri string }{
		{"stock", "gs://hem-landing/stock/1.zip"},
		{"catalogue", "gs://hem-landing/catalogue/1.csv"},
		{"stock", "gs://hem-landing/stock/2.zip"},
		{"catalogue", "gs://hem-landing/catalogue/2.csv"},
		{"catalogue", "gs://hem-landing/catalogue/3.csv"},
	}
	for _, c := range claims {
		mustClaim(t, l, &sourcev1.LedgerEntry{Source: c.source, Uri: c.uri, Generation: 7}, "loader-a")
		clk.Advance(time.Minute)
	}
	// Not entries: a note beside them, an entry of another prefix.
	put(t, bucket, "ledger/README.txt", "not an entry")
	put(t, bucket, "ledger-old/catalogue/x.json", "{}")

	for _, tc := range []struct {
		source string
		want   []string
	}{
		{"", []string{"gs://hem-landing/stock/1.zip", "gs://hem-landing/catalogue/1.csv", "gs://hem-landing/stock/2.zip", "gs://hem-landing/catalogue/2.csv", "gs://hem-landing/catalogue/3.csv"}},
		{"catalogue", []string{"gs://hem-landing/catalogue/1.csv", "gs://hem-landing/catalogue/2.csv", "gs://hem-landing/catalogue/3.csv"}},
		{"stock", []string{"gs://hem-landing/stock/1.zip", "gs://hem-landing/stock/2.zip"}},
		{"stoc", nil}, // a prefix of a name is another name
		{"nothing", nil},
	} {
		t.Run("source="+tc.source, func(t *testing.T) {
			t.Parallel()
			entries, err := l.List(ctx, tc.source)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.GetUri())
			}
			if !slices.Equal(tc.want, got) {
				t.Errorf("List(%q) = %q; want %q", tc.source, got, tc.want)
			}
		})
	}
}

// An entry written by hand with garbage fails loudly, naming the object,
// and does not hide the others from List.
func TestGarbageEntryIsAnErrorNamingTheObject(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	l := ledger.New(bucket, "ledger")
	ctx := t.Context()
	good := mustClaim(t, l, object("gs://hem-landing/catalogue/good.csv"), "loader-a")

	for _, tc := range []struct {
		name    string
		content string
		want    string
	}{
		{"not json", "status: loaded\n", "is not a ledger entry"},
		{"unknown status", `{"source":"catalogue","uri":"gs://hem-landing/catalogue/unknown-status.csv","generation":"1765098000123456","status":"DONE"}`, "status"},
		{"no status", `{"source":"catalogue","uri":"gs://hem-landing/catalogue/no-status.csv","generation":"1765098000123456"}`, "status"},
		{"empty object", `{}`, "which belongs in gs://"},
		{"another object's entry", `{"source":"catalogue","uri":"gs://hem-landing/catalogue/elsewhere.csv","generation":"1765098000123456"}`, "which belongs in gs://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := object("gs://hem-landing/catalogue/" + strings.ReplaceAll(tc.name, " ", "-") + ".csv")
			name := l.ObjectName(in.Source, in.Uri, in.Generation)
			put(t, bucket, name, tc.content)
			loc := "gs://" + testBucket + "/" + name

			_, err := l.Get(ctx, in.Source, in.Uri, in.Generation)
			if err == nil || !strings.Contains(err.Error(), loc) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Get = %v; want an error naming %s, saying %q", err, loc, tc.want)
			}
			if _, claimed, err := l.Claim(ctx, in, "loader-a", lease); err == nil || claimed || !strings.Contains(err.Error(), loc) {
				t.Errorf("Claim = claimed %v, %v; want an error naming %s", claimed, err, loc)
			}
			entries, err := l.List(ctx, "catalogue")
			if err == nil || !strings.Contains(err.Error(), loc) {
				t.Errorf("List error = %v; want one naming %s", err, loc)
			}
			found := false
			for _, e := range entries {
				found = found || proto.Equal(e, good)
			}
			if !found {
				t.Errorf("List hid the good entry behind the garbage: %v", entries)
			}
		})
	}
}

func TestGetWithoutEntryIsNotFound(t *testing.T) {
	t.Parallel()
	l := ledger.New(startGCS(t), "ledger")
	if _, err := l.Get(t.Context(), "catalogue", "gs://hem-landing/none.csv", 3); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Get = %v; want ErrNotFound", err)
	}
}

func TestBadArguments(t *testing.T) {
	t.Parallel()
	l := ledger.New(startGCS(t), "ledger")
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		e     *sourcev1.LedgerEntry
		owner string
		lease time.Duration
	}{
		{"no source", &sourcev1.LedgerEntry{Uri: "gs://b/o"}, "a", lease},
		{"source with a slash", &sourcev1.LedgerEntry{Source: "a/b", Uri: "gs://b/o"}, "a", lease},
		{"no uri", &sourcev1.LedgerEntry{Source: "s"}, "a", lease},
		{"no owner", &sourcev1.LedgerEntry{Source: "s", Uri: "gs://b/o"}, "", lease},
		{"no lease", &sourcev1.LedgerEntry{Source: "s", Uri: "gs://b/o"}, "a", 0},
	} {
		if _, _, err := l.Claim(ctx, tc.e, tc.owner, tc.lease); err == nil {
			t.Errorf("Claim with %s: no error", tc.name)
		}
	}
}

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func put(t *testing.T, bucket *storage.BucketHandle, name, content string) {
	t.Helper()
	w := bucket.Object(name).NewWriter(t.Context())
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// The loader's workers checkpoint one entry through one Ledger at once:
// the writes queue, none reads the others' as a takeover.
func TestConcurrentUpdatesOfTheOwnerAllLand(t *testing.T) {
	t.Parallel()
	l := ledger.New(startGCS(t), "ledger")
	e := mustClaim(t, l, object("gs://hem-landing/catalogue/workers.csv"), "loader-a")
	const workers = 8
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := range workers {
		mine := proto.CloneOf(e)
		mine.Checkpoint = int64(i + 1)
		wg.Go(func() { errs[i] = l.Update(t.Context(), mine, lease) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Updates of the owner: %v", err)
	}
}

// Another process of the same owner (a restarted loader keeping its name)
// writes after reading that the owner holds the entry.
func TestUpdateThroughAnotherLedgerOfTheOwner(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	e := mustClaim(t, ledger.New(bucket, "ledger"), object("gs://hem-landing/catalogue/restart.csv"), "loader-a")
	other := ledger.New(bucket, "ledger")
	for _, cp := range []int64{10, 20} {
		e.Checkpoint = cp
		if err := other.Update(t.Context(), e, lease); err != nil {
			t.Fatalf("Update(checkpoint %d) = %v", cp, err)
		}
	}
	got, err := other.Get(t.Context(), e.Source, e.Uri, e.Generation)
	if err != nil || got.GetCheckpoint() != 20 {
		t.Fatalf("stored checkpoint %d, %v; want 20", got.GetCheckpoint(), err)
	}
}

// hem dev, killed while loading and started again, takes its own entries
// over at once instead of waiting for their leases to run out; other
// owners' entries and finished ones are left as they are.
func TestReleaseEndsTheOwnersLeasesAtOnce(t *testing.T) {
	t.Parallel()
	bucket := startGCS(t)
	clk := newClock()
	before := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now))
	mine := mustClaim(t, before, object("gs://hem-landing/catalogue/a.csv"), "hem-dev:/work/.hem")
	mine.Checkpoint = 500
	if err := before.Update(t.Context(), mine, lease); err != nil {
		t.Fatal(err)
	}
	theirs := mustClaim(t, before, object("gs://hem-landing/catalogue/b.csv"), "loader-b")
	done := mustClaim(t, before, object("gs://hem-landing/catalogue/c.csv"), "hem-dev:/work/.hem")
	done.Status = sourcev1.Status_STATUS_LOADED
	if err := before.Update(t.Context(), done, lease); err != nil {
		t.Fatal(err)
	}

	after := ledger.New(bucket, "ledger", ledger.WithClock(clk.Now)) // the restarted process
	n, err := after.Release(t.Context(), "hem-dev:/work/.hem")
	if err != nil || n != 1 {
		t.Fatalf("Release = %d, %v; want 1 entry released", n, err)
	}
	got, claimed, err := after.Claim(t.Context(), object(mine.Uri), "hem-dev:/work/.hem", lease)
	if err != nil || !claimed || got.GetCheckpoint() != 500 || got.GetAttempts() != 2 {
		t.Fatalf("Claim after Release = claimed %v, checkpoint %d, attempts %d, %v; want taken over at checkpoint 500, attempt 2",
			claimed, got.GetCheckpoint(), got.GetAttempts(), err)
	}
	if _, claimed, err := after.Claim(t.Context(), object(theirs.Uri), "loader-c", lease); err != nil || claimed {
		t.Fatalf("another owner's entry was released: claimed %v, %v", claimed, err)
	}
	if e, err := after.Get(t.Context(), done.Source, done.Uri, done.Generation); err != nil || e.GetStatus() != sourcev1.Status_STATUS_LOADED {
		t.Fatalf("finished entry after Release: %v, %v", e, err)
	}
	if _, err := after.Release(t.Context(), ""); err == nil {
		t.Fatal("Release without an owner did not fail")
	}
}
