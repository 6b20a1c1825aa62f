package archive

import (
	"bytes"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/hemlabs/hem/contract"
)

// FuzzObjectIDs: whatever an archive object holds, reading its ids and its
// schemas (what verify and restore read first, without the payloads)
// never panics, and reads no more ids than the file says it has rows. The
// object lies in a larger buffer, so a read past its end changes the
// outcome.
func FuzzObjectIDs(f *testing.F) {
	s, obj := fuzzSeed(f)
	f.Add(obj)
	f.Add(obj[:len(obj)/2])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := append(append(make([]byte, 0, len(in)+8), in...), 'P', 'A', 'R', '1', 0xff, 0xff, 0xff, 0x7f)
		pf, err := parquet.OpenFile(bytes.NewReader(buf[:len(in):len(in)]), int64(len(in)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			return
		}
		ids, err := stringColumn(pf, contract.ColEventID)
		if err == nil && int64(len(ids)) > pf.NumRows() {
			t.Fatalf("%d ids from a file of %d rows", len(ids), pf.NumRows())
		}
		// The seed's schema is known (rebuilding descriptor.proto for
		// every input costs more than the read); other ids are rebuilt.
		_ = fileSchemas(pf, map[int64]*contract.Schema{s.ID: s})
	})
}
