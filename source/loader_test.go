package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"google.golang.org/api/googleapi"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/ledger"
	"github.com/hemlabs/hem/source/read"
)

const (
	accepted = collectorv1.EventStatus_EVENT_STATUS_ACCEPTED
	rejected = collectorv1.EventStatus_EVENT_STATUS_REJECTED
)

func TestLoadTwicePublishesNothingTheSecondTime(t *testing.T) {
	t.Parallel()
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) {
			t.Parallel()
			core, led := newCore(), newLedger(t)
			obj := newObject("catalogue/day1.csv", 7, lines(50)...)
			if _, err := newTestLoader(t, core, led).Load(t.Context(), catalogue(keyed), nil, obj); err == nil {
				t.Fatal("Load with a nil mapping: no error")
			}
			for i := range 2 {
				// A new loader each time, as after a restart.
				e, err := newTestLoader(t, core, led).Load(t.Context(), catalogue(keyed), compile(t, catalogue(keyed)), obj)
				if err != nil {
					t.Fatalf("load %d: %v", i+1, err)
				}
				if e.GetStatus() != sourcev1.Status_STATUS_LOADED || e.GetAccepted() != 50 {
					t.Fatalf("load %d: entry %v, want LOADED with 50 accepted", i+1, e)
				}
				if got := core.publishes(); got != 50 {
					t.Fatalf("after load %d: %d publishes, want 50", i+1, got)
				}
			}
		})
	}
}

func TestLoadKeyedCorrectionGetsNewIDsOnlyForChangedRecords(t *testing.T) {
	t.Parallel()
	core, led := newCore(), newLedger(t)
	ld := newTestLoader(t, core, led)
	first := lines(10)
	if _, err := ld.Load(t.Context(), catalogue(true), compile(t, catalogue(true)), newObject("catalogue/day1.csv", 1, first...)); err != nil {
		t.Fatal(err)
	}
	before := core.ids(accepted)
	corrected := slices.Clone(first)
	corrected[3] = "sku-3,name 3,300"
	corrected[7] = "sku-7,renamed,7"
	e, err := ld.Load(t.Context(), catalogue(true), compile(t, catalogue(true)), newObject("catalogue/day1.csv", 2, corrected...))
	if err != nil {
		t.Fatal(err)
	}
	if e.GetAccepted() != 10 {
		t.Fatalf("corrected export: %d accepted, want 10", e.GetAccepted())
	}
	after := core.ids(accepted)
	var added []string
	for _, id := range after {
		if !slices.Contains(before, id) {
			added = append(added, payload(t, core.input(id).Event))
		}
	}
	slices.Sort(added)
	if want := []string{"sku-3|name 3|300", "sku-7|renamed|7"}; !slices.Equal(added, want) {
		t.Fatalf("new ids for %q, want only the corrected records %q", added, want)
	}
}

func TestLoadThreeBadLines(t *testing.T) {
	t.Parallel()
	core, led := newCore(), newLedger(t)
	in := lines(100)
	in[4] = "sku-4,only two"    // cannot be read: line 6
	in[9] = "sku-9,name 9,nine" // cannot be mapped: line 11
	in[14] = "sku-14,name,-1"   // breaks the contract: line 16
	obj := newObject("catalogue/day1.csv", 3, in...)
	e, err := newTestLoader(t, core, led).Load(t.Context(), catalogue(false), compile(t, catalogue(false)), obj)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetStatus() != sourcev1.Status_STATUS_LOADED || e.GetRecords() != 100 || e.GetAccepted() != 97 || e.GetRejected() != 3 || e.GetCheckpoint() != 100 {
		t.Fatalf("entry %v, want LOADED, 100 records, 97 accepted, 3 rejected, checkpoint 100", e)
	}
	if e.GetFirstEventId() == "" || e.GetLastEventId() == "" || e.GetFinishedAt() == nil {
		t.Fatalf("entry %v: no first or last event id or finish time", e)
	}
	if got := len(core.ids(accepted)); got != 97 {
		t.Fatalf("%d accepted events, want 97", got)
	}
	type failure struct {
		line                int64
		stage               eventv1.Stage
		field, rule, record string
		fromLoader          bool
	}
	var got []failure
	for _, id := range core.ids(rejected) {
		x := core.input(id)
		o := x.Origin
		if o.GetSource() != "catalogue" || o.GetUri() != "gs://landing/catalogue/day1.csv" || o.GetGeneration() != 3 {
			t.Errorf("event %s: origin %v", id, o)
		}
		r := core.answer(x)
		f := failure{line: o.GetLine(), record: o.GetRecord(), fromLoader: x.Rejection != nil}
		if x.Rejection != nil {
			f.stage = x.Rejection.Stage
			if x.Rejection.Reason != eventv1.Reason_REASON_MAPPING_FAILED {
				t.Errorf("line %d: reason %v", o.GetLine(), x.Rejection.Reason)
			}
		}
		if v := r.GetViolations(); len(v) == 1 {
			f.field, f.rule = v[0].GetFieldPath(), v[0].GetRuleId()
		}
		got = append(got, f)
	}
	slices.SortFunc(got, func(a, b failure) int { return int(a.line - b.line) })
	want := []failure{
		{line: 6, stage: eventv1.Stage_STAGE_READ, rule: "read.csv", record: "[PII withheld]", fromLoader: true},
		{line: 11, stage: eventv1.Stage_STAGE_READ, field: "price", rule: "mapping", record: "sku-9,[PII withheld],nine", fromLoader: true},
		{line: 16, field: "price", rule: "int64.gte"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rejected:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadQuarantine(t *testing.T) {
	t.Parallel()
	bad := func(n, every int) []string {
		out := lines(n)
		for i := range out {
			if i%every == 1 {
				out[i] = fmt.Sprintf("sku-%d,name,-1", i)
			}
		}
		return out
	}
	share := func(f float64) *float64 { return &f }
	for _, tc := range []struct {
		name  string
		lines []string
		share *float64
		want  sourcev1.Status
		msg   string
	}{
		{
			name: "30 %", lines: bad(20, 3), want: sourcev1.Status_STATUS_QUARANTINED,
			msg: "7 of 20 records rejected (35.0 %), above the source's 5 %; first: line 3 price (int64.gte): value must be greater than or equal to 0",
		},
		{
			name: "thousands", lines: func() []string {
				out := lines(1000)
				for i := range 412 {
					out[2*i+1] = fmt.Sprintf("sku-%d,name,%d.5", i, i)
				}
				return out
			}(), want: sourcev1.Status_STATUS_QUARANTINED,
			msg: "412 of 1,000 records rejected (41.2 %), above the source's 5 %; first: line 3 fields[price]: not a 64-bit integer: \"0.5\"",
		},
		{name: "under the declared share", lines: bad(20, 3), share: share(0.4), want: sourcev1.Status_STATUS_LOADED},
		{name: "exactly the share", lines: bad(20, 20), share: share(0.05), want: sourcev1.Status_STATUS_LOADED},
		{name: "just over", lines: bad(20, 10), share: share(0.05), want: sourcev1.Status_STATUS_QUARANTINED,
			msg: "2 of 20 records rejected (10.0 %), above the source's 5 %; first: line 3 price (int64.gte): value must be greater than or equal to 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			core, led := newCore(), newLedger(t)
			src := catalogue(false)
			src.MaxRejectedShare = tc.share
			e, err := newTestLoader(t, core, led).Load(t.Context(), src, compile(t, src), newObject("catalogue/day1.csv", 3, tc.lines...))
			if err != nil {
				t.Fatal(err)
			}
			if e.GetStatus() != tc.want {
				t.Fatalf("status %v (%s), want %v", e.GetStatus(), e.GetReason(), tc.want)
			}
			if tc.want != sourcev1.Status_STATUS_QUARANTINED {
				return
			}
			if e.GetReason() != tc.msg {
				t.Errorf("reason\n %q, want\n %q", e.GetReason(), tc.msg)
			}
			if got := core.publishes(); got != 1 {
				t.Fatalf("%d publishes, want only the summary", got)
			}
			ids := core.ids(rejected)
			x := core.input(ids[0])
			if x.Rejection.GetReason() != eventv1.Reason_REASON_FILE_QUARANTINED || x.Rejection.Stage != eventv1.Stage_STAGE_READ || x.Rejection.Message != tc.msg ||
				x.Origin.GetLine() != 0 || x.Origin.GetUri() != "gs://landing/catalogue/day1.csv" {
				t.Fatalf("summary %+v, origin %v", x.Rejection, x.Origin)
			}
			if e.GetRecords() != int64(len(tc.lines)) || e.GetAccepted() != 0 {
				t.Fatalf("entry %v", e)
			}
		})
	}
}

func (r *Rejection) GetReason() eventv1.Reason {
	if r == nil {
		return 0
	}
	return r.Reason
}

func TestLoadFileErrorFailsTheFileWithOneFailedEvent(t *testing.T) {
	t.Parallel()
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	csvText := []byte("sku,name,price\n" + strings.Join(lines(2000), "\n"))
	gzipped := func(src *sourcev1.Source) *sourcev1.Source {
		src.Compression = &sourcev1.Compression{Kind: &sourcev1.Compression_Gzip{Gzip: &sourcev1.Gzip{}}}
		return src
	}
	for _, tc := range []struct {
		name   string
		src    *sourcev1.Source
		obj    func() *fakeObject
		opts   []Option
		reason string
	}{
		{name: "not gzip", src: gzipped(catalogue(false)), obj: func() *fakeObject { return newObject("a.csv", 1, lines(3)...) },
			reason: "not gzip data"},
		{name: "truncated gzip", src: gzipped(catalogue(false)), obj: func() *fakeObject {
			b := gz(csvText)
			return newRawObject("a.csv", 1, b[:len(b)/2])
		}, reason: "truncated gzip stream"},
		{name: "binary data", src: catalogue(false), obj: func() *fakeObject {
			return newRawObject("a.csv", 1, append([]byte("sku,name,price\n"), 0, 1, 2, 0xff, 0xfe, 0, 0, 0))
		}, reason: "binary data"},
		{name: "a line over the limit", src: catalogue(false), opts: []Option{WithLimits(read.Limits{MaxRecordBytes: 100})},
			obj:    func() *fakeObject { return newObject("a.csv", 1, "sku-1,"+strings.Repeat("x", 200)+",1") },
			reason: "longer than"},
		{name: "a header without a declared column", src: catalogue(false),
			obj: func() *fakeObject { return newRawObject("a.csv", 1, []byte("sku,title,price\nsku-1,x,1\n")) }, reason: "name"},
		{name: "empty", src: catalogue(false), obj: func() *fakeObject { return newRawObject("a.csv", 1, nil) }, reason: "empty"},
		{name: "a header and no records", src: catalogue(false), obj: func() *fakeObject { return newObject("a.csv", 1) }, reason: "the object holds no records"},
		// With a spill (the default) pass 2 reads no object: this is the
		// spill-less pass 2 (a spill over its cap, or a takeover).
		{name: "deleted between the passes without a spill", src: catalogue(false), opts: []Option{WithSpill("", 0)}, obj: func() *fakeObject {
			o := newObject("a.csv", 1, lines(30)...)
			o.goneFrom = 2
			return o
		}, reason: "after 0 of its 30 records were published"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			core, led := newCore(), newLedger(t)
			e, err := newTestLoader(t, core, led, tc.opts...).Load(t.Context(), tc.src, compile(t, tc.src), tc.obj())
			if err != nil {
				t.Fatal(err)
			}
			if e.GetStatus() != sourcev1.Status_STATUS_FAILED || !strings.Contains(e.GetReason(), tc.reason) {
				t.Fatalf("entry %v, want FAILED because %q", e, tc.reason)
			}
			t.Logf("reason: %s", e.GetReason())
			if got := core.publishes(); got != 1 {
				t.Fatalf("%d publishes, want 1", got)
			}
			x := core.input(core.ids(rejected)[0])
			if x.Rejection.GetReason() != eventv1.Reason_REASON_FILE_UNREADABLE || x.Rejection.Stage != eventv1.Stage_STAGE_READ || x.Rejection.Message != e.GetReason() || x.Origin.GetLine() != 0 {
				t.Fatalf("failed event %+v origin %v", x.Rejection, x.Origin)
			}
			if stored := led.entry(t, tc.obj()); stored.GetStatus() != sourcev1.Status_STATUS_FAILED {
				t.Fatalf("ledger holds %v", stored)
			}
		})
	}
}

// unkeyedIDs are the ids of an unkeyed object's records 0..n-1.
func unkeyedIDs(obj *fakeObject, n int) []string {
	var b idBuilder
	out := make([]string, n)
	a := obj.attrs
	for i := range out {
		out[i] = b.recordID(a.Bucket, a.Name, a.URI, a.Generation, "", int64(i))
	}
	return out
}

func TestLoadCancelledResumesExactlyOnce(t *testing.T) {
	t.Parallel()
	const n = 400
	core, led := newCore(), newLedger(t)
	obj := newObject("catalogue/big.csv", 9, lines(n)...)
	ctx, cancel := context.WithCancel(t.Context())
	core.onIngest = func(published int) {
		if published >= n/2 {
			cancel()
		}
	}
	_, err := newTestLoader(t, core, led, WithOwner("first")).Load(ctx, catalogue(false), compile(t, catalogue(false)), obj)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v, want context.Canceled", err)
	}
	stopped := led.entry(t, obj)
	if stopped.GetStatus() != sourcev1.Status_STATUS_LOADING || stopped.GetCheckpoint() <= 0 || stopped.GetCheckpoint() >= n {
		t.Fatalf("after the cancel the ledger holds %v, want LOADING with a checkpoint inside the file", stopped)
	}
	core.mu.Lock()
	core.onIngest = nil
	checks := core.checks
	core.mu.Unlock()

	// Another loader before the lease ends: busy.
	second := newTestLoader(t, core, led, WithOwner("second"))
	if _, err := second.Load(t.Context(), catalogue(false), compile(t, catalogue(false)), obj); !errors.Is(err, ErrBusy) {
		t.Fatalf("load while the first loader's lease runs: %v, want ErrBusy", err)
	}
	led.clock.advance(2 * time.Minute)
	e, err := second.Load(t.Context(), catalogue(false), compile(t, catalogue(false)), obj)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetStatus() != sourcev1.Status_STATUS_LOADED || e.GetAccepted() != n || e.GetAttempts() != 2 {
		t.Fatalf("resumed entry %v, want LOADED with %d accepted on attempt 2", e, n)
	}
	if core.checks != checks {
		t.Errorf("the takeover checked the file again (%d checks, %d before): pass 1 had decided", core.checks, checks)
	}
	want := unkeyedIDs(obj, n)
	slices.Sort(want)
	if got := core.ids(accepted); !slices.Equal(got, want) {
		t.Fatalf("%d distinct ids published, want the %d records' ids", len(got), n)
	}
	for i, id := range unkeyedIDs(obj, int(stopped.GetCheckpoint())) {
		if c := core.published[id]; c != 1 {
			t.Fatalf("record %d, before the checkpoint %d, published %d times", i, stopped.GetCheckpoint(), c)
		}
	}
}

func TestLoadRetryNeverCheckpointsPastAnUnconfirmedRecord(t *testing.T) {
	t.Parallel()
	const n = 40
	core, led := newCore(), newLedger(t)
	obj := newObject("catalogue/day1.csv", 5, lines(n)...)
	ids := unkeyedIDs(obj, n)
	for _, i := range []int{5, 21, 22, 39} {
		core.retries[ids[i]] = 2
	}
	var mu sync.Mutex
	var bad []string
	led.onUpdate = func(e *sourcev1.LedgerEntry) {
		for i := range e.GetCheckpoint() {
			if !core.confirmed(ids[i]) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("checkpoint %d past record %d, unconfirmed", e.GetCheckpoint(), i))
				mu.Unlock()
			}
		}
	}
	e, err := newTestLoader(t, core, led, WithInFlight(3)).Load(t.Context(), catalogue(false), compile(t, catalogue(false)), obj)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatal(strings.Join(bad, "\n"))
	}
	if e.GetStatus() != sourcev1.Status_STATUS_LOADED || e.GetAccepted() != n || e.GetCheckpoint() != n {
		t.Fatalf("entry %v", e)
	}
	for i, id := range ids {
		if c := core.published[id]; c != 1 {
			t.Errorf("record %d published %d times", i, c)
		}
	}
	var last int64
	for _, u := range led.updates {
		if u.GetCheckpoint() < last {
			t.Fatalf("checkpoint went back from %d to %d", last, u.GetCheckpoint())
		}
		last = u.GetCheckpoint()
	}
}

func TestLoadStopsWhenTheEntryIsLost(t *testing.T) {
	t.Parallel()
	const n = 400
	core, led := newCore(), newLedger(t)
	obj := newObject("catalogue/big.csv", 9, lines(n)...)
	var once sync.Once
	// A loader that stops renewing for longer than its lease (a stall)
	// meets another that took the object over.
	thief := led.another()
	core.onIngest = func(published int) {
		if published >= 40 {
			once.Do(func() {
				// The loader renews as it goes: expire its lease until
				// the thief gets in between.
				for range 50 {
					led.clock.advance(2 * time.Minute)
					_, claimed, err := thief.Claim(context.Background(), &sourcev1.LedgerEntry{Source: "catalogue", Uri: obj.attrs.URI, Generation: 9}, "thief", time.Hour)
					if err != nil {
						t.Errorf("the thief's claim: %v", err)
					}
					if claimed {
						return
					}
				}
				t.Error("the thief never claimed the entry")
			})
		}
	}
	_, err := newTestLoader(t, core, led).Load(t.Context(), catalogue(false), compile(t, catalogue(false)), obj)
	if !errors.Is(err, ledger.ErrLost) {
		t.Fatalf("load: %v, want ledger.ErrLost", err)
	}
	if got := core.publishes(); got >= n {
		t.Fatalf("%d publishes: the loader went on after it lost the entry", got)
	}
}

func TestLoadGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	core, led := newCore(), newLedger(t)
	obj := newObject("a.csv", 1, lines(10)...)
	// A loader that died on its first attempt.
	if _, claimed, err := led.Claim(t.Context(), &sourcev1.LedgerEntry{Source: "catalogue", Uri: obj.attrs.URI, Generation: 1}, "dead", time.Minute); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	led.clock.advance(time.Hour)
	e, err := newTestLoader(t, core, led, WithMaxAttempts(1)).Load(t.Context(), catalogue(false), compile(t, catalogue(false)), obj)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetStatus() != sourcev1.Status_STATUS_FAILED || !strings.HasPrefix(e.GetReason(), "gave up after 1 attempts") || core.publishes() != 1 {
		t.Fatalf("entry %v, %d publishes: want FAILED after 1 attempt, one FailedEvent", e, core.publishes())
	}
}

// blockingCore holds the batch of record 0 until release is closed, and
// counts the records handed to Ingest meanwhile.
type blockingCore struct {
	*fakeCore
	first   string
	release chan struct{}
	seen    atomic.Int64
}

func (c *blockingCore) Ingest(ctx context.Context, in []Input) ([]*collectorv1.EventResult, error) {
	c.seen.Add(int64(len(in)))
	if slices.ContainsFunc(in, func(x Input) bool { return x.Event.GetEventId() == c.first }) {
		select {
		case <-c.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.fakeCore.Ingest(ctx, in)
}

// A batch that does not get confirmed holds the reader back: what is read
// ahead of the checkpoint is bounded, whatever the file's size.
func TestLoadBoundsWhatIsReadAheadOfTheCheckpoint(t *testing.T) {
	t.Parallel()
	const n, batch, workers, inFlight = 5000, 10, 2, 2
	obj := newObject("catalogue/big.csv", 1, lines(n)...)
	core := &blockingCore{fakeCore: newCore(), first: unkeyedIDs(obj, 1)[0], release: make(chan struct{})}
	led := newLedger(t)
	ld := newTestLoader(t, core, led, WithBatchSize(batch), WithWorkers(workers), WithInFlight(inFlight), WithCheckpoint(30*time.Second, 1000))
	done := make(chan error, 1)
	go func() {
		_, err := ld.Load(t.Context(), catalogue(false), compile(t, catalogue(false)), obj)
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); core.seen.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	// The window: the stuck batch and the others it holds back.
	window := int64(workers + 2*inFlight)
	if got := core.seen.Load(); got > window*batch || got == 0 {
		t.Fatalf("%d records sent while the first batch waits, want at most %d", got, window*batch)
	}
	close(core.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(core.ids(accepted)); got != n {
		t.Fatalf("%d accepted, want %d", got, n)
	}
}

// An outage while reading the object stops the load (the runner retries
// it); it does not fail the file for good.
func TestLoadOutageIsRetriedNotFailed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"GCS 503", &googleapi.Error{Code: 503, Message: "backend error"}},
		{"GCS 429", &googleapi.Error{Code: 429, Message: "rate limit"}},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			core, led := newCore(), newLedger(t)
			obj := newObject("catalogue/day1.csv", 4, lines(20)...)
			obj.failOpens, obj.failErr = 1, tc.err
			src := catalogue(false)
			e, err := newTestLoader(t, core, led).Load(t.Context(), src, compile(t, src), obj)
			if err == nil || e.GetStatus() != sourcev1.Status_STATUS_LOADING {
				t.Fatalf("load during the outage: %v, entry %v; want an error and the entry LOADING", err, e)
			}
			if core.publishes() != 0 {
				t.Fatalf("%d publishes during the outage", core.publishes())
			}
			led.clock.advance(2 * time.Minute)
			e, err = newTestLoader(t, core, led).Load(t.Context(), src, compile(t, src), obj)
			if err != nil || e.GetStatus() != sourcev1.Status_STATUS_LOADED || e.GetAccepted() != 20 {
				t.Fatalf("load after the outage: %v, entry %v; want LOADED with 20", err, e)
			}
		})
	}
}
