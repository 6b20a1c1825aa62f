package collector

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/registry"
)

// Errors that refuse a whole request. They wrap one of these sentinels; the
// gRPC and HTTP edges map them to status codes.
var (
	// ErrUnauthenticated: no credential, or one the keyring does not know.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the producer may not send one of the event types.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrOverloaded: too many bytes in flight; retry with backoff.
	ErrOverloaded = errors.New("collector overloaded")
	// ErrQuotaExceeded: the producer sent more than its quota (events per
	// second, or its share of the bytes in flight); retry after the delay
	// the error carries (gRPC RetryInfo, HTTP Retry-After).
	ErrQuotaExceeded = errors.New("producer quota exceeded")
	// ErrBatchTooLarge: more events or bytes than the limits allow in one
	// request; split it.
	ErrBatchTooLarge = errors.New("batch too large")
	// ErrInvalidRequest: the request itself is malformed (e.g. fields the
	// API does not declare); fix the client.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrClosed: the collector is shutting down; retry elsewhere.
	ErrClosed = errors.New("collector is closing")
	// ErrSchemaNotFound is what a Schemas implementation may return (wrapped)
	// for an unknown subject or id. Errors with gRPC code NOT_FOUND count too.
	ErrSchemaNotFound = errors.New("schema not found")
)

// rejection is why one event was refused for good.
type rejection struct {
	stage      eventv1.Stage
	reason     eventv1.Reason
	message    string
	violations []*eventv1.Violation
}

func collectRejection(reason eventv1.Reason, msg string) *rejection {
	return &rejection{stage: eventv1.Stage_STAGE_COLLECT, reason: reason, message: msg}
}

// Code maps an error of Collect to a gRPC status code.
func Code(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, ErrUnauthenticated):
		return codes.Unauthenticated
	case errors.Is(err, ErrPermissionDenied):
		return codes.PermissionDenied
	case errors.Is(err, ErrOverloaded), errors.Is(err, ErrQuotaExceeded):
		return codes.ResourceExhausted
	case errors.Is(err, ErrBatchTooLarge), errors.Is(err, ErrInvalidRequest):
		return codes.InvalidArgument
	case errors.Is(err, ErrClosed):
		return codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Internal
}

// toStatus is err as a gRPC status; a refusal that says when to retry
// carries a google.rpc.RetryInfo detail, which hem's client honours.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	st := status.New(Code(err), err.Error())
	if d := retryAfter(err); d > 0 {
		if withInfo, werr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)}); werr == nil {
			st = withInfo
		}
	}
	return st.Err()
}

func isNotFound(err error) bool {
	if errors.Is(err, ErrSchemaNotFound) || errors.Is(err, registry.ErrNotFound) {
		return true
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.NotFound {
		return true
	}
	return false
}

// isRefused reports whether the registry refused the request itself
// (INVALID_ARGUMENT): asking again cannot help, so the event is rejected
// rather than answered RETRY.
func isRefused(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.InvalidArgument
}
