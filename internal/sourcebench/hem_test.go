package sourcebench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/collector/collectortest"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/internal/wiring"
	"github.com/hemlabs/hem/registry/localgcs"
	"github.com/hemlabs/hem/source"
	"github.com/hemlabs/hem/source/ledger"
	"github.com/hemlabs/hem/source/mapping"
	"github.com/hemlabs/hem/source/read"
	"github.com/hemlabs/hem/source/spec"
)

// hemLoader is the production loader (source.Loader, its ledger on the
// local GCS server) over the real collector's core as internal/wiring
// adapts it, except that its Ingest validates without publishing: the
// benchmark measures hem, not Pub/Sub (pstest keeps every message).
type hemLoader struct {
	src    *sourcev1.Source
	m      *mapping.Mapping
	core   source.Core
	ledger func() *ledger.Ledger
}

// pass1Ledger is the loader's ledger, noting the process's CPU time when
// pass 1 ends: the loader's first write of the record count (before
// that write), after which it only publishes.
type pass1Ledger struct {
	*ledger.Ledger
	cpu time.Duration // 0 until pass 1 ended
}

func (l *pass1Ledger) Update(ctx context.Context, e *sourcev1.LedgerEntry, lease time.Duration) error {
	if l.cpu == 0 && e.GetRecords() > 0 && e.GetStatus() == sourcev1.Status_STATUS_LOADING {
		l.cpu = cpuTime()
	}
	return l.Ledger.Update(ctx, e, lease)
}

func newHemLoader(b testing.TB) *hemLoader {
	b.Helper()
	ctx := b.Context()
	st, err := collectortest.Start(ctx, "../../proto")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	decls, err := spec.Load("../../sources")
	if err != nil {
		b.Fatal(err)
	}
	var src *sourcev1.Source
	for _, d := range decls {
		if d.Source.GetName() == "product-catalogue" {
			// The declaration as is, but for a plain file: DuckDB reads
			// the same bytes.
			src = proto.CloneOf(d.Source)
			src.Compression = nil
		}
	}
	if src == nil {
		b.Fatal("sources/ declares no product-catalogue")
	}
	schema, err := st.Schemas.Latest(ctx, src.GetSubject())
	if err != nil {
		b.Fatal(err)
	}
	m, err := mapping.Compile(src, schema.Descriptor())
	if err != nil {
		b.Fatal(err)
	}
	srv, err := localgcs.Start(b.TempDir(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop)
	gcs, err := srv.NewClient(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gcs.Close() })
	if err := localgcs.EnsureBucket(ctx, gcs, "hem-ledger"); err != nil {
		b.Fatal(err)
	}
	h := &hemLoader{src: src, m: m, core: checkOnly{wiring.SourceCore(st.Collector, wiring.SourcePrincipal(src))}}
	// A fresh ledger prefix per load: each load is a first load.
	n := 0
	h.ledger = func() *ledger.Ledger {
		n++
		return ledger.New(gcs.Bucket("hem-ledger"), fmt.Sprintf("bench-%d/", n))
	}
	return h
}

// load loads the file at path once, as "hem load FILE" does, and returns
// the ledger's counts, and the process's CPU time (cpuTime) when pass 1
// ended.
func (h *hemLoader) load(ctx context.Context, path string) (accepted, rejected int64, pass1 time.Duration, err error) {
	l := &pass1Ledger{Ledger: h.ledger()}
	accepted, rejected, err = h.loadWith(ctx, l, path)
	return accepted, rejected, l.cpu, err
}

func (h *hemLoader) loadWith(ctx context.Context, l source.Ledger, path string) (accepted, rejected int64, err error) {
	ld, err := source.NewLoader(h.core, l, source.WithOwner("bench"))
	if err != nil {
		return 0, 0, err
	}
	obj, err := read.FileObject(path)
	if err != nil {
		return 0, 0, err
	}
	e, err := ld.Load(ctx, h.src, h.m, obj)
	if err != nil {
		return 0, 0, err
	}
	if e.GetStatus() != sourcev1.Status_STATUS_LOADED {
		return 0, 0, fmt.Errorf("load ended %s: %s", e.GetStatus(), e.GetReason())
	}
	return e.GetAccepted(), e.GetRejected(), nil
}

// checkOnly is the collector's core as internal/wiring adapts it for the
// loader, with Ingest answering as Check does: everything but the publish
// (resolve, decode, protovalidate, PII handling; in pass 2, what pass 1
// prepared, taken as Ingest takes it).
type checkOnly struct{ source.Core }

func (c checkOnly) Ingest(ctx context.Context, in []source.Input) ([]*collectorv1.EventResult, error) {
	res, err := c.Check(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make([]*collectorv1.EventResult, len(res))
	for i, r := range res {
		out[i] = r.Result
	}
	return out, nil
}
