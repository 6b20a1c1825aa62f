package collector

import (
	"context"

	"github.com/hemlabs/hem/auth"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// CollectDirect runs the core as the edges do after authentication, for a
// producer that may send every type, without copying the events: black-box
// tests use it to hand the core payloads that lie inside larger buffers.
func (c *Collector) CollectDirect(ctx context.Context, events []*eventv1.Event) ([]*collectorv1.EventResult, error) {
	return c.collect(ctx, &auth.Principal{Name: "test-producer", Types: []string{"*"}}, eventInputs(events), chargedNothing)
}

// InLargerBuffer returns input as the start of a larger allocation, followed
// by trailer.
func InLargerBuffer(input []byte, trailer string) []byte {
	return inLargerBuffer(input, trailer)
}
