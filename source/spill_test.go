package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
	"github.com/hemlabs/hem/source/read"
)

// spillLines are records of every kind: good, one the core rejects (a
// negative price), one that cannot be mapped (a price that is no number)
// and one that cannot be read (a field too many).
func spillLines() []string {
	ls := lines(60)
	ls[7] = "sku-7,name 7,-3"
	ls[21] = "sku-21,name 21,twelve"
	ls[40] = "sku-40,name 40,4,extra"
	return ls
}

// published is what a load handed the core's Ingest, by event id.
func published(t *testing.T, core *fakeCore) map[string]Input {
	t.Helper()
	core.mu.Lock()
	defer core.mu.Unlock()
	for id, n := range core.published {
		if n != 1 {
			t.Fatalf("%s published %d times", id, n)
		}
	}
	return core.inputs
}

func sameInputs(t *testing.T, got, want map[string]Input) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events published, want %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Fatalf("event %s not published", id)
		}
		if !proto.Equal(g.Event, w.Event) || !proto.Equal(g.Origin, w.Origin) {
			t.Fatalf("event %s: published %v %v, want %v %v", id, g.Event, g.Origin, w.Event, w.Origin)
		}
		if (g.Rejection == nil) != (w.Rejection == nil) {
			t.Fatalf("event %s: rejection %v, want %v", id, g.Rejection, w.Rejection)
		}
		if r := g.Rejection; r != nil {
			wr := w.Rejection
			if r.Stage != wr.Stage || r.Reason != wr.Reason || r.Message != wr.Message || !slices.EqualFunc(r.Violations, wr.Violations, func(a, b *eventv1.Violation) bool { return proto.Equal(a, b) }) {
				t.Fatalf("event %s: rejection %+v, want %+v", id, r, wr)
			}
		}
	}
}

// TestLoadWithASpillReadsTheObjectOnce: pass 2 publishes what pass 1
// spilled, exactly what it would have built from the object again (ids,
// payloads, times, origins, rejections), and the spill leaves nothing in
// its folder.
func TestLoadWithASpillReadsTheObjectOnce(t *testing.T) {
	t.Parallel()
	for _, keyed := range []bool{false, true} {
		t.Run(map[bool]string{false: "unkeyed", true: "keyed"}[keyed], func(t *testing.T) {
			t.Parallel()
			src := catalogue(keyed)
			m := compile(t, src)
			load := func(opts ...Option) (*fakeObject, *fakeCore, *sourcev1.LedgerEntry) {
				t.Helper()
				core, obj := newCore(), newObject("catalogue/a.csv", 3, spillLines()...)
				e, err := newTestLoader(t, core, newLedger(t), opts...).Load(t.Context(), src, m, obj)
				if err != nil {
					t.Fatal(err)
				}
				return obj, core, e
			}
			dir := t.TempDir()
			obj, core, e := load(WithSpill(dir, 1<<20))
			if obj.opens != 1 {
				t.Errorf("the object was read %d times, want once", obj.opens)
			}
			if e.GetStatus() != sourcev1.Status_STATUS_LOADED || e.GetAccepted() != 57 || e.GetRejected() != 3 || e.GetCheckpoint() != 60 {
				t.Fatalf("entry %v, want LOADED, 57 accepted, 3 rejected, checkpoint 60", e)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("the spill's folder holds %v after the load", left)
			}
			objNo, coreNo, eNo := load(WithSpill("", 0))
			if objNo.opens != 2 {
				t.Errorf("without a spill the object was read %d times, want twice", objNo.opens)
			}
			if e.GetFirstEventId() != eNo.GetFirstEventId() || e.GetLastEventId() != eNo.GetLastEventId() {
				t.Errorf("first/last ids %s/%s, without a spill %s/%s", e.GetFirstEventId(), e.GetLastEventId(), eNo.GetFirstEventId(), eNo.GetLastEventId())
			}
			spilled, read := published(t, core), published(t, coreNo)
			sameInputs(t, spilled, read)
			for id, in := range spilled {
				want := int64(0)
				if core.answer(in).GetStatus() == accepted {
					want = fakeSchemaID
				}
				if in.Checked != want || read[id].Checked != 0 {
					t.Fatalf("event %s ingested as checked under %d (%d without a spill), want %d (0): pass 1's Check said %v",
						id, in.Checked, read[id].Checked, want, core.answer(in))
				}
				if (in.Prepared != nil) != (want != 0) || read[id].Prepared != nil {
					t.Fatalf("event %s ingested prepared %v (%v without a spill): pass 1's Check said %v", id, in.Prepared, read[id].Prepared, core.answer(in))
				}
			}
			if core.mismatched != 0 {
				t.Fatalf("%d events ingested with what Check prepared of another", core.mismatched)
			}
		})
	}
}

// TestLoadSpillFallsBackToTheObject: a spill over its cap, or one that
// cannot be created, leaves pass 2 to read the object, with the same
// result.
func TestLoadSpillFallsBackToTheObject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  func(t *testing.T) Option
	}{
		{"over its cap", func(t *testing.T) Option { return WithSpill(t.TempDir(), 200) }},
		{"no such folder", func(t *testing.T) Option { return WithSpill(filepath.Join(t.TempDir(), "missing"), 1<<20) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := catalogue(false)
			core, obj := newCore(), newObject("catalogue/a.csv", 3, spillLines()...)
			e, err := newTestLoader(t, core, newLedger(t), tc.opt(t)).Load(t.Context(), src, compile(t, src), obj)
			if err != nil {
				t.Fatal(err)
			}
			if obj.opens != 2 {
				t.Errorf("the object was read %d times, want twice", obj.opens)
			}
			if e.GetStatus() != sourcev1.Status_STATUS_LOADED || e.GetAccepted() != 57 || e.GetRejected() != 3 {
				t.Fatalf("entry %v, want LOADED, 57 accepted, 3 rejected", e)
			}
		})
	}
}

// TestLoadDeletedBetweenThePassesWithASpill: pass 1 read the whole
// generation, which cannot change; its spill is the generation's records,
// so the load ends as if the object were still there.
func TestLoadDeletedBetweenThePassesWithASpill(t *testing.T) {
	t.Parallel()
	src := catalogue(false)
	core, obj := newCore(), newObject("catalogue/a.csv", 1, lines(30)...)
	obj.goneFrom = 2
	e, err := newTestLoader(t, core, newLedger(t), WithSpill(t.TempDir(), 1<<20)).Load(t.Context(), src, compile(t, src), obj)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetStatus() != sourcev1.Status_STATUS_LOADED || e.GetAccepted() != 30 {
		t.Fatalf("entry %v, want LOADED with 30 accepted", e)
	}
}

// spillOf is the spill file of blocks, as pass 1 writes it.
func spillOf(t *testing.T, blocks ...[]byte) *spill {
	t.Helper()
	sp, err := newSpill(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.close)
	for _, b := range blocks {
		if err := sp.write(b); err != nil {
			t.Fatal(err)
		}
	}
	return sp
}

// testBlocks are the spill blocks of spillLines in batches of 4, and the
// inputs they hold.
func testBlocks(t testing.TB) (blocks [][]byte, inputs [][]Input) {
	t.Helper()
	src := catalogue(true)
	obj := newObject("catalogue/a.csv", 3, spillLines()...)
	cfg, err := newConfig([]Option{WithBatchSize(4)})
	if err != nil {
		t.Fatal(err)
	}
	ld := &load{Loader: &Loader{cfg: cfg}, src: src, m: compile(t, src), obj: obj, attrs: obj.attrs,
		keyed: true, typeURL: "type.googleapis.com/" + src.GetSubject(), readRule: readRule(src), pii: true}
	rd, err := read.Open(context.Background(), obj, src, read.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	out := make(chan *batch, 100)
	if err := ld.readBatches(context.Background(), rd, 0, out, nil); err != nil {
		t.Fatal(err)
	}
	close(out)
	w := &worker{load: ld}
	for b := range out {
		w.build(b)
		for i := range b.inputs {
			if b.inputs[i].Rejection == nil {
				b.inputs[i].Checked = fakeSchemaID
				if i%3 != 2 { // some not prepared
					b.inputs[i].Prepared = fakePrepared(b.inputs[i])
				}
			}
		}
		blocks = append(blocks, appendSpillBlock(nil, b.inputs, b.items))
		inputs = append(inputs, b.inputs)
	}
	return blocks, inputs
}

// TestSpillReadsBackWhatWasWritten: each block decodes to the inputs pass
// 1 built, with the batch's record count and checkpoint.
func TestSpillReadsBackWhatWasWritten(t *testing.T) {
	t.Parallel()
	blocks, inputs := testBlocks(t)
	sp := spillOf(t, blocks...)
	r, err := sp.reader()
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *batch, len(blocks)+1)
	window := make(chan struct{}, len(blocks)+1)
	if err := readSpill(t.Context(), r, sp.size, out, window); err != nil {
		t.Fatal(err)
	}
	close(out)
	obj := newObject("catalogue/a.csv", 3)
	w := &worker{load: &load{Loader: newTestLoader(t, newCore(), newLedger(t)), src: catalogue(true), obj: obj, attrs: obj.attrs,
		typeURL: "type.googleapis.com/loadtest.v1.Product"}}
	i := 0
	for b := range out {
		if err := w.unspill(b); err != nil {
			t.Fatal(err)
		}
		want := map[string]Input{}
		got := map[string]Input{}
		for j, in := range inputs[i] {
			want[in.Event.GetEventId()] = in
			got[b.inputs[j].Event.GetEventId()] = b.inputs[j]
			if b.inputs[j].Checked != in.Checked {
				t.Fatalf("block %d record %d: checked %d, want %d", i, j, b.inputs[j].Checked, in.Checked)
			}
			if g, w := b.inputs[j].Prepared, in.Prepared; (g == nil) != (w == nil) || (g != nil && (!bytes.Equal(g.Data, w.Data) || g.EntityKey != w.EntityKey)) {
				t.Fatalf("block %d record %d: prepared %+v, want %+v", i, j, g, w)
			}
		}
		sameInputs(t, got, want)
		if b.n != len(inputs[i]) || b.end != int64(4*i+len(inputs[i])) {
			t.Fatalf("block %d: %d records ending at %d", i, b.n, b.end)
		}
		i++
	}
	if i != len(blocks) {
		t.Fatalf("%d blocks read back, want %d", i, len(blocks))
	}
}

// TestSpillCorruptIsAnError: a spill cut short, with a flipped bit, or with
// bytes after its blocks, reads back as an error wrapping errSpillCorrupt,
// never a panic.
func TestSpillCorruptIsAnError(t *testing.T) {
	t.Parallel()
	blocks, _ := testBlocks(t)
	whole := bytes.Join(blocks, nil)
	for _, tc := range []struct {
		name string
		data []byte
		size int64 // what the spill says it wrote
	}{
		{"cut short", whole[:len(whole)-7], int64(len(whole))},
		{"cut in a length", whole[:len(blocks[0])+1], int64(len(whole))},
		{"a flipped bit", func() []byte { b := bytes.Clone(whole); b[len(blocks[0])+20] ^= 4; return b }(), int64(len(whole))},
		{"a length over the size", whole, int64(len(whole) - 1)},
		{"trailing bytes", append(bytes.Clone(whole), 1, 2, 3), int64(len(whole)) + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := make(chan *batch, len(blocks)+2)
			window := make(chan struct{}, len(blocks)+2)
			err := readSpill(t.Context(), bufio.NewReader(bytes.NewReader(tc.data)), tc.size, out, window)
			close(out)
			w := &worker{load: &load{Loader: &Loader{}, src: catalogue(true)}}
			for b := range out {
				if err == nil {
					err = w.unspill(b)
				}
			}
			if !errors.Is(err, errSpillCorrupt) {
				t.Fatalf("err %v, want errSpillCorrupt", err)
			}
		})
	}
}

// FuzzSpillBlock: any bytes decode to records or errSpillCorrupt; records
// decoded encode back to the same block.
func FuzzSpillBlock(f *testing.F) {
	blocks, _ := testBlocks(f)
	for _, b := range blocks {
		f.Add(b)
		f.Add(append(bytes.Clone(b), 0, 1))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		body, _, err := readSpillBlock(r, int64(len(data)))
		if err != nil {
			if !errors.Is(err, errSpillCorrupt) && !errors.Is(err, io.EOF) {
				t.Fatalf("error %v", err)
			}
			return
		}
		recs, err := decodeSpillBlock(body, nil)
		if err != nil {
			if !errors.Is(err, errSpillCorrupt) {
				t.Fatalf("error %v", err)
			}
			return
		}
		obj := newObject("catalogue/a.csv", 3)
		w := &worker{load: &load{Loader: &Loader{}, src: catalogue(true), obj: obj, attrs: obj.attrs, typeURL: "t"}}
		b := &batch{raw: body}
		if err := w.unspill(b); err != nil {
			t.Fatal(err)
		}
		items := make([]item, len(recs))
		for i, r := range recs {
			items[i].rec.Number = r.number
		}
		again := appendSpillBlock(nil, b.inputs, items)
		body2, took2, err := readSpillBlock(bufio.NewReader(bytes.NewReader(again)), int64(len(again)))
		if err != nil || took2 != int64(len(again)) {
			t.Fatalf("encoded again: %v (took %d of %d)", err, took2, len(again))
		}
		recs2, err := decodeSpillBlock(body2, nil)
		if err != nil || !reflect.DeepEqual(recs, recs2) {
			t.Fatalf("decoded, encoded and decoded again: %v\n%+v\nwant %+v", err, recs2, recs)
		}
	})
}

// TestSpillRestsSealed: the spill file holds none of the records' bytes in
// clear (payloads carry PII before the collector hashes it), and a block
// changed on disk stops pass 2 as corrupt instead of being published.
func TestSpillRestsSealed(t *testing.T) {
	t.Parallel()
	blocks, inputs := testBlocks(t)
	sp := spillOf(t, blocks...)
	if _, err := sp.reader(); err != nil { // flushes
		t.Fatal(err)
	}
	disk := make([]byte, sp.disk)
	if _, err := sp.f.ReadAt(disk, 0); err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs[0] {
		for _, clear := range [][]byte{[]byte(in.Event.GetEventId()), in.Event.GetPayload().GetValue()} {
			if len(clear) >= 8 && bytes.Contains(disk, clear) {
				t.Fatalf("the spill file holds %q in clear", clear)
			}
		}
	}

	for _, at := range []int64{2, 4 + 12, sp.disk - 1} { // a frame's length, its body, the last tag byte
		t.Run(fmt.Sprintf("byte %d changed", at), func(t *testing.T) {
			sp := spillOf(t, blocks...)
			if _, err := sp.reader(); err != nil {
				t.Fatal(err)
			}
			b := []byte{0}
			if _, err := sp.f.ReadAt(b, at); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x20
			if _, err := sp.f.WriteAt(b, at); err != nil {
				t.Fatal(err)
			}
			r, err := sp.reader()
			if err != nil {
				t.Fatal(err)
			}
			out := make(chan *batch, len(blocks)+1)
			window := make(chan struct{}, len(blocks)+1)
			if err := readSpill(t.Context(), r, sp.size, out, window); !errors.Is(err, errSpillCorrupt) {
				t.Fatalf("a changed spill read as %v, want errSpillCorrupt", err)
			}
		})
	}
}
