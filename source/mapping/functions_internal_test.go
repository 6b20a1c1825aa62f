package mapping

import (
	"fmt"
	"sync"
	"testing"

	"cel.dev/cel-go/common/types"
)

func syncMapLen(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

// TestDateCacheBounded: layouts and zones read from the data (not
// constants of the declaration) are not kept, so a file of distinct ones
// cannot grow memory.
func TestDateCacheBounded(t *testing.T) {
	layoutsBefore, zonesBefore := syncMapLen(&layouts), syncMapLen(&zones)
	for i := range 1000 {
		v := dateVal(types.String("07.12.2026"), types.String(fmt.Sprintf("DD.MM.YYYY%.*s", i%50, "                                                  ")), types.String(fmt.Sprintf("Nowhere/%d", i)))
		if !types.IsError(v) {
			t.Fatalf("dateVal: %v, want an error", v)
		}
		v = dateVal(types.String("07.12.2026"), types.String(fmt.Sprintf("DD.MM.YYYY%.*s", i%50, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")), types.String("UTC"))
		if !types.IsError(v) && i%50 != 0 {
			t.Fatalf("dateVal: %v, want an error", v)
		}
	}
	if l, z := syncMapLen(&layouts), syncMapLen(&zones); l > layoutsBefore+1 || z > zonesBefore+1 {
		t.Fatalf("caches grew from %d layouts, %d zones to %d, %d", layoutsBefore, zonesBefore, l, z)
	}
}
