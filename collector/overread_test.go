package collector

import (
	"bytes"
	"testing"

	"github.com/hemlabs/hem/collector/codec"
)

// TestPayloadIsReadWithinItsBounds: hyperpb v0.1.3 reads past the end of a
// payload holding an unterminated unknown group (see the package doc). The
// same payload must get the same answer whatever bytes follow it in memory.
func TestPayloadIsReadWithinItsBounds(t *testing.T) {
	t.Parallel()
	p := newPlan(testSchema(t, "shop.orders.v1.OrderPlaced"))
	h := codec.NewHasher([]byte("overread-salt-0123456789"))
	for _, payload := range [][]byte{
		[]byte("SSSSSSSS"),
		[]byte("R\x80\x80\x80\x80\x01SS"),
		[]byte("S"),
		[]byte("\x0a\x00S"),
	} {
		alone := bytes.Clone(payload)
		_, _, want := p.process(alone, h, nil, false)
		for _, trailer := range []string{"SSSSSSSS", "\x54\x00\x00", "R\x80\x80\x80\x80\x01SS", "\x0a\x03abc"} {
			buf := append(bytes.Clone(payload), trailer...)
			_, _, got := p.process(buf[:len(payload)], h, nil, false)
			if (want == nil) != (got == nil) || (want != nil && got.message != want.message) {
				t.Errorf("payload %q followed by %q: %v; alone: %v", payload, trailer, got, want)
			}
		}
		if want == nil {
			t.Errorf("payload %q accepted", payload)
		}
	}
}
