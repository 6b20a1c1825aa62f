package collector

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/contract"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// answeringSchemas answers every lookup with one gRPC code, as a registry
// would.
type answeringSchemas codes.Code

func (a answeringSchemas) Latest(context.Context, string) (*contract.Schema, error) {
	return nil, status.Error(codes.Code(a), "registry says so")
}

func (a answeringSchemas) ByID(context.Context, int64) (*contract.Schema, error) {
	return nil, status.Error(codes.Code(a), "registry says so")
}

// TestResolveRetriesOnlyWhatMayPass: what the registry answered for good is
// a rejection; only an unreachable registry makes the event RETRY.
func TestResolveRetriesOnlyWhatMayPass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code   codes.Code
		pinned int64
		reason eventv1.Reason // 0: transient
	}{
		{codes.NotFound, 0, eventv1.Reason_REASON_UNKNOWN_TYPE},
		{codes.NotFound, 3, eventv1.Reason_REASON_SCHEMA_NOT_FOUND},
		{codes.InvalidArgument, 0, eventv1.Reason_REASON_UNKNOWN_TYPE},
		{codes.InvalidArgument, 3, eventv1.Reason_REASON_SCHEMA_NOT_FOUND},
		{codes.Unavailable, 0, 0},
		{codes.Unavailable, 3, 0},
		{codes.DeadlineExceeded, 3, 0},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			t.Parallel()
			c := &Collector{schemas: answeringSchemas(tc.code)}
			_, rej, err := c.resolve(&resolver{c: c, ctx: t.Context()}, "shop.orders.v1.OrderPlaced", tc.pinned)
			switch {
			case tc.reason == 0 && (err == nil || rej != nil):
				t.Fatalf("pinned %d: rejection %v, error %v; want a transient error", tc.pinned, rej, err)
			case tc.reason != 0 && (err != nil || rej == nil || rej.reason != tc.reason):
				t.Fatalf("pinned %d: rejection %v, error %v; want %v", tc.pinned, rej, err, tc.reason)
			}
		})
	}
}
